"""Failures a user meets, each one clear line and exit code 2, nothing left or changed: a
database that is unreachable or refuses, a full disk (a real small tmpfs), permission denied
(a real unprivileged user)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cli_helpers import UNPRIVILEGED, one_error_line, snapshot, wangge
from psycopg import sql

from api.server import free_port
from gis.store import open_store


def closed_url() -> str:
    """A PostgreSQL URL nobody listens on."""
    return f"postgresql://postgres@127.0.0.1:{free_port()}/wangge"


@pytest.mark.parametrize(
    "args",
    [
        ["publish", "plan.gpkg", "--author", "a"],
        ["versions"],
        ["export", "out.gpkg"],
        ["diff", "1", "2", "--out", "d.json"],
        ["serve", "--port", "1"],
    ],
    ids=lambda a: a[0],
)
def test_an_unreachable_database_is_one_line(work: Path, args: list[str]) -> None:
    before = snapshot(work)
    done = wangge(*args, "--store", closed_url(), cwd=work)
    line = one_error_line(done, "is unreachable or refuses the connection", "Connection refused")
    assert "postgres@127.0.0.1:" in line
    assert snapshot(work) == before  # no export, no diff file


@pytest.mark.postgis
def test_a_database_that_refuses_is_one_line(
    work: Path, postgis_url: str, fault_log: Callable[[str], None]
) -> None:
    role, schema = f"wangge_ro_{uuid.uuid4().hex[:6]}", f"t_refuse_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        url = postgis_url.replace("postgres@", f"{role}@", 1)
        before = snapshot(work)
        done = wangge("versions", "--store", url, "--schema", schema, cwd=work)
        one_error_line(done, "refuses it (permission denied)", schema)
        nobody = postgis_url.replace("postgres@", "no_such_role@", 1)
        done = wangge("publish", "plan.gpkg", "--author", "a", "--store", nobody, cwd=work)
        one_error_line(done, "refuses the connection", 'role "no_such_role" does not exist')
        assert snapshot(work) == before
    finally:
        with psycopg.connect(postgis_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    fault_log(f"role {role} without rights on schema {schema}, and a role that does not exist")


@contextlib.contextmanager
def small_disk(size_kib: int) -> Iterator[Path]:
    """A real tmpfs of ``size_kib`` KiB, mounted for the test (skipped where not allowed)."""
    where = Path(tempfile.mkdtemp(prefix="wangge-tmpfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not root'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


def fill(folder: Path, leave_kib: int) -> None:
    """Fill ``folder``'s disk until about ``leave_kib`` KiB are free."""
    free = shutil.disk_usage(folder).free
    (folder / "filler").write_bytes(b"\0" * max(0, free - leave_kib * 1024))


def test_a_publish_on_a_full_disk_is_one_line_and_leaves_the_store_alone(
    nantong_plan: Path, fault_log: Callable[[str], None]
) -> None:
    outcomes = []
    with small_disk(2048) as disk:
        store = disk / "st.gpkg"
        first = wangge("publish", nantong_plan, "--store", store, "--author", "a")
        assert first.returncode == 0, first.stderr
        for leave_kib in (4, 16, 40, 64, 80, 96, 112, 128, 160, 200):
            (disk / "filler").unlink(missing_ok=True)
            fill(disk, leave_kib)
            before = snapshot(disk)
            done = wangge("publish", nantong_plan, "--store", store, "--author", "a")
            if done.returncode == 0:  # room enough after all: one more version, nothing else
                outcomes.append(f"{leave_kib} KiB free: published")
                continue
            one_error_line(done, f"cannot publish into {store}", "no space left on the device")
            assert snapshot(disk) == before  # the store as it was, no temporary folder
            with open_store(store, create=False) as opened:
                assert opened.versions()[-1].live
            outcomes.append(f"{leave_kib} KiB free: refused")
        assert not [p for p in disk.iterdir() if p.name.startswith(".st.")]
    assert any("refused" in o for o in outcomes)
    fault_log(f"GeoPackage publish on a 2 MiB tmpfs filled to: {'; '.join(outcomes)}")


def test_outputs_on_a_full_disk_are_one_line_and_leave_nothing(
    work: Path, fault_log: Callable[[str], None]
) -> None:
    with small_disk(1024) as disk:
        fill(disk, 40)
        before = snapshot(disk)
        for args in (
            ["export", disk / "out.gpkg", "--store", work / "st.gpkg"],
            ["blocks", work / "in.gpkg", "--out", disk / "b.gpkg", "--map", disk / "m.html"],
        ):
            done = wangge(*args)
            one_error_line(
                done, "cannot write", "no space left on the device", "nothing was written"
            )
            assert snapshot(disk) == before
    fault_log("export and blocks onto a 1 MiB tmpfs with 40 KiB free: refused, nothing left")


def test_permission_denied_is_one_line_and_leaves_nothing(
    work: Path, fault_log: Callable[[str], None]
) -> None:
    if UNPRIVILEGED and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permission bits cannot be enforced")
    locked = work / "locked"
    locked.mkdir()
    shutil.copy(work / "st.gpkg", locked / "st.gpkg")
    os.chmod(locked, 0o555)  # nobody may create a file here, not even the owner
    try:
        before = snapshot(work)
        done = wangge(
            "export", locked / "out.gpkg", "--store", work / "st.gpkg", prefix=tuple(UNPRIVILEGED)
        )
        one_error_line(done, f"cannot write {locked / 'out.gpkg'}", "permission denied")
        done = wangge(
            "publish", work / "plan.gpkg", "--store", locked / "st.gpkg", "--author", "a",
            prefix=tuple(UNPRIVILEGED),
        )  # fmt: skip
        one_error_line(done, f"cannot publish into {locked / 'st.gpkg'}", "permission denied")
        assert snapshot(work) == before
    finally:
        os.chmod(locked, 0o755)
    who = "root without CAP_DAC_OVERRIDE (setpriv)" if UNPRIVILEGED else "this user"
    fault_log(f"export into and publish in a 0555 folder as {who}: refused, nothing left")
