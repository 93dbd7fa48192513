"""Staff through the service, on each store: posts on grids and units, the history read as of
a past time, escalation contacts in ``/lookup``, role checks, and no private field in any
answer."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import shapely
from service_helpers import Service

from gis.store.addresses import open_registry

KEY = {"X-API-Key": "staff-key"}
READER = {"X-API-Key": "reader-key"}
PRIVATE_ID = "310101199001011234"  # a well-formed resident ID: checked, then dropped
HOME = "黄浦区某路88号3室"


def a_grid(service: Service) -> tuple[str, float, float]:
    """The last grid of the live version (other tests staff the first) and a point in it."""
    grids = service.store.read_grids().sort_values("grid_code")
    grid = grids.iloc[-1]
    p = shapely.point_on_surface(grid.geometry)
    return str(grid["grid_code"]), p.x, p.y


def pause() -> datetime:
    time.sleep(0.05)
    now = datetime.now(UTC)
    time.sleep(0.05)
    return now


def test_a_roster_change_keeps_the_history_and_a_past_roster_is_served(service: Service) -> None:
    code, _, _ = a_grid(service)
    first = [{"name": "张三", "role": "专职网格员", "phone": "13800000001"},
             {"name": "王五", "role": "網格長", "phone": "13800000003"}]  # fmt: skip
    second = [
        {"name": "王五", "role": "网格长", "phone": "13800000003"},
        {"name": "李四", "role": "worker", "duty": "兼职", "phone": "13800000002"},
    ]
    with service.client() as client:
        assert client.put(f"/grids/{code}/staff", json=first, headers=KEY).status_code == 200
        between = pause()
        put = client.put(f"/grids/{code}/staff", json=second, headers=KEY)
        now = client.get(f"/grids/{code}/staff").json()
        past = {"as_of": between.isoformat()}
        anonymous = client.get(f"/grids/{code}/staff", params=past)
        then = client.get(f"/grids/{code}/staff", params=past, headers=READER).json()
    assert anonymous.status_code == 401  # the history (备案) is not public: a key reads it
    assert put.status_code == 200, put.text
    labels = [(s["name"], s["role_label"]) for s in put.json()]
    assert labels == [("王五", "网格长"), ("李四", "兼职网格员")]
    assert [(s["name"], s["role_label"], s["duty"]) for s in then] == [
        ("张三", "专职网格员", "full_time"), ("王五", "网格长", None)
    ]  # fmt: skip
    assert then[0]["valid_to"] is not None  # 张三 left after ``between``
    assert datetime.fromisoformat(then[0]["valid_to"]) > between
    assert [s["name"] for s in now] == ["王五", "李四"]
    assert now[0]["valid_from"] == then[1]["valid_from"]  # 王五 unchanged: the same row
    assert all(s["valid_to"] is None for s in now)


def test_lookup_names_the_escalation_contacts_of_the_community_and_town(service: Service) -> None:
    code, x, y = a_grid(service)
    with service.client() as client:
        parents = client.get("/lookup", params={"lon": x, "lat": y}).json()["parents"]
        community, town = parents[0]["code"], parents[-1]["code"]
        secretary = [
            {"name": "孙书记", "role": "社區書記", "phone": "021-12345678"},
            {"name": "周主任", "role": "community director", "phone": "021-12345679"},
        ]
        head = [{"name": "吴主任", "role": "街道办事处主任", "phone": "021-63210000"}]  # fmt: skip
        for unit, staff in ((community, secretary), (town, head)):
            put = client.put(f"/units/{unit}/staff", json=staff, headers=KEY)
            assert put.status_code == 200, put.text
        body = client.get("/lookup", params={"lon": x, "lat": y}).json()
        listed = client.get(f"/units/{community}/staff").json()
    contacts = body["contacts"]
    assert [c["code"] for c in contacts] == [p["code"] for p in parents]
    assert [(s["name"], s["role_label"]) for s in contacts[0]["staff"]] == [
        ("孙书记", "社区（村）书记"), ("周主任", "社区（村）主任")
    ]  # fmt: skip
    assert [(s["name"], s["role"]) for s in contacts[-1]["staff"]] == [("吴主任", "town_head")]
    assert [s["name"] for s in listed] == ["孙书记", "周主任"]
    assert body["grid"]["grid_code"] == code


def test_a_role_on_a_post_it_cannot_hold_is_refused(service: Service) -> None:
    code, x, y = a_grid(service)
    with service.client() as client:
        parents = client.get("/lookup", params={"lon": x, "lat": y}).json()["parents"]
        community, town = parents[0]["code"], parents[-1]["code"]
        before = client.get(f"/units/{community}/staff").json()
        refused = [
            client.put(f"/grids/{code}/staff", headers=KEY,
                       json=[{"name": "孙书记", "role": "社区书记", "phone": "021-12345678"}]),
            client.put(f"/units/{community}/staff", headers=KEY,
                       json=[{"name": "赵微", "role": "微网格员", "phone": "13800000004"}]),
            client.put(f"/units/{community}/staff", headers=KEY,
                       json=[{"name": "吴书记", "role": "街道书记", "phone": "13800000005"}]),
        ]  # fmt: skip
        missing = [
            client.put("/cells/nope/staff", headers=KEY, json=[]),
            client.get("/units/nope/staff"),
            client.get("/cells/nope/staff"),
        ]
        after = client.get(f"/units/{community}/staff").json()
    words = [
        "serves a unit, not a grid",
        "serves a unit cell, not a unit",
        "is a contact of a town",
    ]
    for answer, word in zip(refused, words, strict=True):
        assert answer.status_code == 422, answer.text
        assert word in answer.json()["detail"], answer.text
    assert [m.status_code for m in missing] == [404, 404, 404]
    assert after == before
    assert town != community


def test_no_private_field_is_stored_or_served(service: Service) -> None:
    code, x, y = a_grid(service)
    staff = [{"name": "钱七", "role": "网格员", "phone": "13800000007", "id_number": PRIVATE_ID,
              "home_address": HOME, "photo": "/srv/private/qq.jpg"}]  # fmt: skip
    twice = [*staff, {"name": "钱八", "role": "网格员", "phone": "13800000008",
                      "id_number": PRIVATE_ID}]  # fmt: skip
    with service.client() as client:
        community = client.get("/lookup", params={"lon": x, "lat": y}).json()["parents"][0]["code"]
        dup = client.put(f"/grids/{code}/staff", json=twice, headers=KEY)
        answers = [
            client.put(f"/grids/{code}/staff", json=staff, headers=KEY),
            client.put(f"/units/{community}/staff", headers=KEY,
                       json=[{**staff[0], "role": "社区主任"}]),
            client.get(f"/grids/{code}/staff"),
            client.get(f"/grids/{code}/staff", params={"as_of": pause().isoformat()},
                       headers=READER),
            client.get(f"/units/{community}/staff"),
            client.get("/lookup", params={"lon": x, "lat": y}),
        ]  # fmt: skip
    assert dup.status_code == 422
    assert "duplicate ID number of staff[0]" in dup.json()["detail"]
    for answer in [dup, *answers]:
        assert PRIVATE_ID not in answer.text
        assert HOME not in answer.text
        assert "/srv/private" not in answer.text
        assert "photo_path" not in answer.text
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert "钱七" in answers[-1].text
    stored = open_registry(service.settings.store_url, schema=service.settings.db_schema)
    try:
        text = stored.read_staff().to_csv() + stored.read_staff(as_of=datetime.now(UTC)).to_csv()
    finally:
        stored.close()
    assert "钱七" in text
    assert PRIVATE_ID not in text
    assert HOME not in text
