"""The scenes of a run: resolved once on the driver, handed to the trials by reference.

A suite resolves each scene it names on the driver (real files, a surrogate, or a
user's TOML; then the suite's crop) and makes its specs from it
(:func:`harness.spec.make_spec`), which remembers the scene here under its
fingerprint. The runner then puts each scene a run needs into Ray's object store
once (:func:`put_scenes`): a node that runs trials of that scene holds one copy of
its arrays, shared read-only by every trial on that node, whatever the number of
trials. A trial receives the scene by reference and checks its fingerprint
against its spec; it never opens a scene file or parses a TOML, so the worker
nodes of a cluster need neither the data folder nor the user's scene files.

A spec whose scene this process has not resolved (specs read back from JSON) is
resolved here on the driver, from the files the spec's scene name, source and
crop point to; a fingerprint that no longer matches is refused before any trial
starts.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

#: Scenes that specs were made from in this process, by fingerprint.
_RESOLVED: dict[str, Any] = {}


class SceneMismatchError(ValueError):
    """A spec's scene that can no longer be resolved to the data it was made on."""


def remember(scene: Any) -> None:
    """Keep ``scene`` (a :class:`datasets.Scene`) for the trials of the specs made from it.

    Another object of the same data (same fingerprint) already kept gains the fixed
    splits of this one (they replace its splits of the same names), so every split a
    spec names travels with the scene.
    """
    import datasets

    known = _RESOLVED.setdefault(scene.fingerprint, scene)
    if known is not scene:
        for fixed in scene.splits.values():
            datasets.splits.attach_split(known, fixed)


def forget_all() -> None:
    """Drop every remembered scene (the next run resolves them again)."""
    _RESOLVED.clear()


def resolve(spec: Any, data_dir: str | None = None) -> Any:
    """The scene of ``spec``: the one its spec was made from in this process, else
    loaded on the driver (and cropped) from the spec's scene name, source and seed.

    Raises:
        SceneMismatchError: the data found is not the data the spec was made on.
        datasets.DatasetError: the scene's files cannot be found or read.
    """
    scene = _RESOLVED.get(spec.scene_fingerprint)
    if scene is not None:
        ensure_split(scene, spec, data_dir)
        return scene
    import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene(
            spec.scene, source=spec.source, data_dir=data_dir, surrogate_seed=spec.surrogate_seed
        )
    if spec.crop is not None:
        scene = scene.crop_to(*_relative_crop(scene, spec.crop))
    if scene.fingerprint != spec.scene_fingerprint:
        raise SceneMismatchError(
            f"Scene '{spec.scene}' ({spec.source}) now has fingerprint {scene.fingerprint[:12]}..., "
            f"but trial {spec.spec_hash[:12]} was specified on {spec.scene_fingerprint[:12]}...: "
            "the data (a real scene's array values) or the surrogate generator changed. Fix: "
            "re-create the trial specs (re-run the suite) so that results are never mixed "
            "across different data."
        )
    ensure_split(scene, spec, data_dir)
    remember(scene)
    return scene


def ensure_split(scene: Any, spec: Any, data_dir: str | None) -> None:
    """Give ``scene`` the fixed split ``spec`` names (``fixed:NAME``) when it lacks it:
    the one its scene file declares, which must be the files the spec recorded.

    Raises:
        SceneMismatchError: no such split can be read, or its files changed.
    """
    import datasets

    if not datasets.is_fixed(spec.protocol):
        return
    name = datasets.fixed_name(spec.protocol)
    if name not in scene.splits:
        try:
            datasets.load_split(scene, name, data_dir=data_dir)
        except datasets.SplitFileError as exc:
            raise SceneMismatchError(
                f"Trial {spec.spec_hash[:12]} uses the split '{name}' of scene '{spec.scene}', "
                f"which cannot be read here: {exc} If the split was given with --split-file, "
                "pass the same --split-file again."
            ) from exc
    recorded = spec.protocol_params.get("files")
    if scene.splits[name].identity() != recorded:
        raise SceneMismatchError(
            f"Trial {spec.spec_hash[:12]} was specified on the split '{name}' read from files "
            f"{recorded}, but the split now reads {scene.splits[name].identity()}: the split "
            "files changed. Fix: re-create the trial specs (re-run the suite) on these files."
        )


def _relative_crop(scene: Any, crop: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    base = scene.crop or (0, scene.shape[0], 0, scene.shape[1])
    return (crop[0] - base[0], crop[1] - base[0], crop[2] - base[2], crop[3] - base[2])


@dataclass
class SceneRefs:
    """The scenes of a run in Ray's object store: fingerprint -> ObjectRef."""

    refs: dict[str, Any] = field(default_factory=dict)
    #: Bytes of the scenes' arrays (their fixed splits' maps included) put into the object store.
    nbytes: int = 0
    #: Seconds the driver spent resolving and putting them.
    seconds: float = 0.0
    #: What each scene put is, for the run's report ("salinas (surrogate)").
    names: list[str] = field(default_factory=list)

    def add(self, specs: list[Any], data_dir: str | None = None) -> dict[str, Any]:
        """Put the scenes of ``specs`` not yet in the store; returns the refs they need.

        Every scene is resolved before any is put, so a scene that cannot be
        resolved fails the run before any trial starts.

        Raises:
            SceneMismatchError, datasets.DatasetError: before any trial starts.
        """
        import ray

        t0 = time.perf_counter()
        new = {}
        for spec in specs:
            fp = spec.scene_fingerprint
            if fp not in self.refs and fp not in new:
                new[fp] = resolve(spec, data_dir)
        for fp, scene in new.items():
            self.refs[fp] = ray.put(scene)
            self.nbytes += int(scene.cube.nbytes + scene.gt.nbytes)
            self.nbytes += sum(int(f.roles.nbytes + f.labels.nbytes) for f in scene.splits.values())
            self.names.append(_label(scene))
        self.seconds += time.perf_counter() - t0
        return {spec.scene_fingerprint: self.refs[spec.scene_fingerprint] for spec in specs}


def _label(scene: Any) -> str:
    crop = ""
    if scene.crop is not None:
        r0, r1, c0, c1 = scene.crop
        crop = f", {r1 - r0} x {c1 - c0} crop"
    return f"{scene.name} ({scene.source}{crop})"


def fetch(refs: dict[str, Any], spec: Any) -> Any:
    """In a trial: the scene of ``spec`` from the run's object store references.

    Raises:
        SceneMismatchError: the scene received is not the one the spec names.
    """
    import ray

    ref = refs.get(spec.scene_fingerprint)
    if ref is None:
        raise SceneMismatchError(
            f"Trial {spec.spec_hash[:12]} names scene fingerprint {spec.scene_fingerprint[:12]}..., "
            "which the driver did not hand to this run. Fix: run the trial through "
            "harness.execute.run_specs, which resolves every scene of its specs."
        )
    scene = ray.get(ref)
    scene._fingerprint = None  # recomputed from what arrived, not the sender's cached value
    if scene.fingerprint != spec.scene_fingerprint:
        raise SceneMismatchError(
            f"Trial {spec.spec_hash[:12]} received scene {scene.name!r} with fingerprint "
            f"{scene.fingerprint[:12]}..., not {spec.scene_fingerprint[:12]}... as its spec says."
        )
    return scene
