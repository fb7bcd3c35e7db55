"""The clustering state's object (riskradar.adapters.s3): anything that is not a state it can read
is a ValueError, which the recluster job takes as "start cold" (riskradar.recluster)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from riskradar.adapters.s3 import clustering_state_from_npz, clustering_state_npz
from riskradar.themes import ClusteringState

STATE = ClusteringState(
    micro_centroids=np.eye(3, 4, dtype=np.float32),
    micro_radii=np.full(3, 0.9, dtype=np.float32),
    micro_groups=np.array([0, 0, -1], dtype=np.int64),
    cohesion=0.78,
)


def test_a_state_reads_back_as_written() -> None:
    read = clustering_state_from_npz(clustering_state_npz(STATE))
    np.testing.assert_array_equal(read.micro_centroids, STATE.micro_centroids)
    np.testing.assert_array_equal(read.micro_radii, STATE.micro_radii)
    np.testing.assert_array_equal(read.micro_groups, STATE.micro_groups)
    assert read.cohesion == STATE.cohesion


def with_zip_version(raw: bytes, version: int) -> bytes:
    """The archive with every member's "version needed to extract" set to `version`."""
    data = bytearray(raw)
    for signature, offset in ((b"PK\x03\x04", 4), (b"PK\x01\x02", 6)):
        start = data.find(signature)
        while start != -1:
            data[start + offset : start + offset + 2] = version.to_bytes(2, "little")
            start = data.find(signature, start + 4)
    return bytes(data)


def compressed_with_a_damaged_stream() -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, micro_centroids=np.zeros((200, 4)), micro_radii=np.zeros(200))
    raw = bytearray(buffer.getvalue())
    start = raw.find(b"PK\x03\x04") + 30 + len("micro_centroids.npy") + 20
    raw[start : start + 40] = bytes(range(40))
    return bytes(raw)


def array_where_the_cohesion_belongs() -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        micro_centroids=STATE.micro_centroids,
        micro_radii=STATE.micro_radii,
        micro_groups=STATE.micro_groups,
        cohesion=np.array([0.78, 0.8]),
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    "raw",
    [
        clustering_state_npz(STATE)[:100],
        with_zip_version(clustering_state_npz(STATE), 107),  # "zip file version 10.7"
        compressed_with_a_damaged_stream(),
        array_where_the_cohesion_belongs(),
    ],
    ids=["truncated", "unsupported-zip-version", "damaged-stream", "array-cohesion"],
)
def test_what_is_not_a_readable_state_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError, match="not a clustering state object"):
        clustering_state_from_npz(raw)


def test_the_damaged_objects_really_are_damaged_as_named() -> None:
    # Each case above must fail as it says, or the test above would not cover that failure.
    with (
        pytest.raises(NotImplementedError),
        zipfile.ZipFile(io.BytesIO(with_zip_version(clustering_state_npz(STATE), 107))) as archive,
    ):
        archive.read(archive.namelist()[0])
