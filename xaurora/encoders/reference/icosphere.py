"""Icosphere meshes: the latent grid of Appa-like (GraphCast-style) encoders.

An icosahedron's 20 triangles, each split ``subdivisions`` times into four (edge midpoints
pushed out onto the unit sphere), gives ``10·4^s + 2`` nearly uniform nodes. Written here
because the libraries that have one (trimesh, pygsp, GraphCast's own) are heavy for a
40-line generator and none of them is a dependency of xaurora; healpy, which is, has no
icosphere.

>>> xyz, faces = icosphere(1)
>>> xyz.shape, faces.shape
((42, 3), (80, 3))
>>> g = icosphere_grid(2)
>>> g.n_cells, round(float(g.weights.sum()), 6)
(162, 1.0)
"""

from __future__ import annotations

import numpy as np

from xaurora.errors import XauroraError
from xaurora.grids import Points

__all__ = ["icosphere", "icosphere_grid", "lat_lon_to_xyz", "xyz_to_lat_lon"]


def _icosahedron() -> tuple[np.ndarray, np.ndarray]:
    phi = (1.0 + 5.0**0.5) / 2.0
    v = np.array([
        [-1, phi, 0], [1, phi, 0], [-1, -phi, 0], [1, -phi, 0],
        [0, -1, phi], [0, 1, phi], [0, -1, -phi], [0, 1, -phi],
        [phi, 0, -1], [phi, 0, 1], [-phi, 0, -1], [-phi, 0, 1],
    ], dtype=np.float64)
    f = np.array([
        [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
        [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
        [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
        [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
    ], dtype=np.int64)
    return v / np.linalg.norm(v, axis=1, keepdims=True), f


def icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-sphere node positions ``(n, 3)`` and triangles ``(m, 3)`` of an icosphere.

    ``n = 10·4^subdivisions + 2`` and ``m = 20·4^subdivisions``; the nodes of a coarser
    icosphere come first, in the same order (the meshes are nested).
    """
    if int(subdivisions) != subdivisions or subdivisions < 0:
        raise XauroraError(f"subdivisions: must be an integer ≥ 0, got {subdivisions!r}.")
    verts, faces = _icosahedron()
    for _ in range(int(subdivisions)):
        # One new node per unique edge: edges as sorted node pairs, deduplicated.
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        edges.sort(axis=1)
        uniq, inverse = np.unique(edges, axis=0, return_inverse=True)
        mid = verts[uniq[:, 0]] + verts[uniq[:, 1]]
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        new = len(verts) + inverse.reshape(3, -1)   # midpoint ids of edges 01, 12, 20
        a, b, c = faces.T
        ab, bc, ca = new
        faces = np.concatenate([
            np.stack([a, ab, ca], 1), np.stack([b, bc, ab], 1),
            np.stack([c, ca, bc], 1), np.stack([ab, bc, ca], 1),
        ])
        verts = np.concatenate([verts, mid])
    return verts, faces


def xyz_to_lat_lon(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude and longitude (degrees; lon in [0, 360)) of unit vectors."""
    lat = np.rad2deg(np.arcsin(np.clip(xyz[:, 2], -1.0, 1.0)))
    lon = np.mod(np.rad2deg(np.arctan2(xyz[:, 1], xyz[:, 0])), 360.0)
    return lat, lon


def lat_lon_to_xyz(lat, lon) -> np.ndarray:
    """Unit vectors ``(n, 3)`` of points given in degrees."""
    la, lo = np.deg2rad(np.asarray(lat, np.float64)), np.deg2rad(np.asarray(lon, np.float64))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def icosphere_grid(subdivisions: int):
    """The icosphere's nodes as an ``xa.grids.Points`` latent grid, weighted by node area.

    A node's weight is the area of its spherical Voronoi cell (``scipy.spatial.
    SphericalVoronoi``): the nodes are nearly, not exactly, equal-area (the 12 nodes with five
    neighbours have the smallest cells).
    """
    from scipy.spatial import SphericalVoronoi  # heavy

    xyz, _ = icosphere(subdivisions)
    w = SphericalVoronoi(xyz).calculate_areas()
    lat, lon = xyz_to_lat_lon(xyz)
    return Points(lat=lat, lon=lon, weights=w)
