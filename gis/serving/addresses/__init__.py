"""Free-text Chinese address → standard address → grid, and grid → its doors.

* :mod:`~gis.serving.addresses.text`: one canonical spelling (:func:`normalize_address`):
  width, script (OpenCC), numerals, part words, shorthand; names are never removed;
* :mod:`~gis.serving.addresses.divisions`: the administrative prefix, against the real
  division list shipped beside it (``divisions.tsv``);
* :mod:`~gis.serving.addresses.parse`: the parts (:func:`parse_address`);
* :mod:`~gis.serving.addresses.table`: reading and checking a standard-address table and its
  index keys;
* :mod:`~gis.serving.addresses.matcher` and :mod:`~gis.serving.addresses.score`: candidates
  from the store's indexes, re-ranked by their parts, and an answer that says how sure it is
  (``exact`` | ``probable`` | ``ambiguous`` | ``none``);
* :mod:`~gis.serving.addresses.grid`: the answers' grids, batches, and the doors of a grid;
* :mod:`~gis.serving.addresses.synthetic`: a labelled SYNTHETIC table and queries (tests,
  benchmarks).
"""

from gis.serving.addresses.matcher import AddressMatch, AddressMatcher
from gis.serving.addresses.parse import AddressParts, parse_address
from gis.serving.addresses.score import Candidate
from gis.serving.addresses.table import (
    address_keys,
    read_address_csv,
    read_address_table,
)
from gis.serving.addresses.text import normalize_address

__all__ = [
    "AddressMatch",
    "AddressMatcher",
    "AddressParts",
    "Candidate",
    "address_keys",
    "normalize_address",
    "parse_address",
    "read_address_csv",
    "read_address_table",
]
