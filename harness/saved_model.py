"""A trial's trained model as files, and back: what outlives the trial.

A completed trial keeps three files (:class:`ModelFile`), each in the format made
for its content, none of them a pickle:

- ``model``: a torch model's ``state_dict`` as **safetensors** (float32); an
  XGBoost booster in XGBoost's own **UBJSON** model format; a Random Forest
  (scikit-learn) as **skops** (deflated), loaded with an allow-list of types.
- ``preprocessing``: the fitted scaler and PCA (:class:`datasets.FittedPreprocessing`)
  as **skops**, so that a new cube goes through exactly the code that made the
  trial's input image.
- ``manifest``: JSON: the model's registry name, family and kind, its
  hyperparameters (as given and as resolved), the class names, the input geometry
  (bands of the cube, features after preprocessing, window, padding), the
  preprocessing configuration, the evaluation batch and chunk sizes, the data it
  was trained on, and the sha256 of the two other files.

The trial exports them (:func:`export_model`; the bytes travel with its result
bundle to the single writer, which stores them content-addressed:
:mod:`harness.store.artifact_store`); :func:`load_model` rebuilds a :class:`SavedModel`
whose :meth:`SavedModel.predict` classifies any cube with the same bands, in
chunks, exactly as the trial classified its scene.

    files = export_model(spec, model, "torch", data)          # in the trial
    saved = load_model({f.kind: f.data for f in files})       # anywhere else
    labels, entropy = saved.predict(cube)                      # (H, W) int16, float32
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

import numpy as np

from .jsondata import to_json_data

__all__ = [
    "FILE_KINDS",
    "MANIFEST_VERSION",
    "ModelFile",
    "SavedModel",
    "SavedModelError",
    "export_model",
    "load_model",
]

#: Version of the manifest's layout (a reader refuses a newer one).
MANIFEST_VERSION = 1
#: The files of a saved model, in the order they are listed.
FILE_KINDS = ("model", "preprocessing", "manifest")
#: File suffix of each format.
SUFFIXES = {
    "safetensors": ".safetensors",
    "xgboost-ubj": ".ubj",
    "skops": ".skops",
    "json": ".json",
}
#: Types a skops file of this project may hold beyond skops' own defaults: the
#: trees of a forest. Anything else is refused instead of being loaded.
_SKOPS_TRUSTED = frozenset({"sklearn.tree._tree.Tree"})


class SavedModelError(ValueError):
    """A saved model that cannot be used as asked (the message names the value and the fix)."""


@dataclass(frozen=True)
class ModelFile:
    """One file of a saved model.

    Attributes:
        kind: "model", "preprocessing" or "manifest".
        format: "safetensors", "xgboost-ubj", "skops" or "json".
        data: the file's bytes.
    """

    kind: str
    format: str
    data: bytes = field(repr=False)

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.format]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


# ----------------------------------------------------------------------------- export


def export_model(
    spec: Any,
    model: Any,
    kind: str,
    data: Any,
    *,
    precision: str | None = None,
    map_chunk: int = 4096,
) -> list[ModelFile]:
    """The files of a trial's fitted model and preprocessing.

    Args:
        spec: the trial's :class:`~harness.spec.TrialSpec`.
        model: the fitted model: a torch module (its selected checkpoint loaded) or
            a tree wrapper of :mod:`models.trees`.
        kind: the registry's kind, "torch" or "sklearn".
        data: the trial's :class:`~harness.trial.data.PreparedData` (its fitted
            preprocessing, class names and the scene's band facts).
        precision: the autocast mode the trial evaluated in ("bf16", "fp16" or None).
        map_chunk: pixels per chunk of the trial's full-scene map.

    Returns:
        The ``model``, ``preprocessing`` and ``manifest`` files.
    """
    import models

    entry = models.get_model_entry(spec.model)
    if kind == "torch":
        weights = ModelFile("model", "safetensors", _torch_weights(model))
        state: dict[str, Any] = {}
    else:
        weights, state = _tree_file(model)
    pre = ModelFile("preprocessing", "skops", _skops_dumps(_fitted_state(data.preprocessing)))
    manifest = {
        "format": "hsi-harness saved model",
        "manifest_version": MANIFEST_VERSION,
        "model": spec.model,
        "family": entry.family,
        "kind": kind,
        "input": entry.input,
        "hparams": to_json_data(spec.hparams),
        "resolved_hparams": _resolved_hparams(model, spec.hparams),
        "n_bands": int(data.preprocessing.n_bands),
        "n_features": int(data.image.shape[2]),
        "n_classes": int(data.n_classes),
        "class_names": list(data.class_names),
        "wavelengths_nm": _range(data.wavelengths_nm),
        "patch_size": int(spec.patch_size),
        "pad_mode": spec.pad_mode,
        "preprocessing": data.preprocessing.config.as_dict(),
        "precision": precision,
        "eval_batch_size": int(spec.training.eval_batch_size) if kind == "torch" else None,
        "map_chunk": int(map_chunk),
        "weights_dtype": "float32" if kind == "torch" else None,
        "tree_state": state,
        "trained_on": {
            "spec_hash": spec.spec_hash,
            "scene": spec.scene,
            "source": spec.source,
            "scene_fingerprint": spec.scene_fingerprint,
            "crop": list(spec.crop) if spec.crop else None,
            "shape": [int(v) for v in data.image.shape[:2]],
            "georef": getattr(data, "georef", None),
            "protocol": spec.protocol,
            "seed": spec.seed,
            "recipe": spec.recipe,
        },
        "files": {
            f.kind: {"format": f.format, "sha256": f.sha256, "size": f.size} for f in (weights, pre)
        },
    }
    text = json.dumps(to_json_data(manifest, nonfinite="null"), indent=1, sort_keys=True)
    return [weights, pre, ModelFile("manifest", "json", text.encode())]


def _range(wavelengths: Any) -> list[float] | None:
    if wavelengths is None or len(wavelengths) == 0:
        return None
    return [float(min(wavelengths)), float(max(wavelengths))]


def _resolved_hparams(model: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """The model's full configuration (defaults filled in), when it keeps one."""
    for attr in ("cfg", "config"):
        cfg = getattr(model, attr, None)
        if cfg is not None and is_dataclass(cfg) and not isinstance(cfg, type):
            return to_json_data(asdict(cfg), nonfinite="null")
    return to_json_data(dict(given), nonfinite="null")


def _torch_weights(model: Any) -> bytes:
    """The module's ``state_dict`` as safetensors bytes (floating tensors in float32)."""
    import torch
    from safetensors.torch import save

    tensors = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu")
        if t.is_floating_point():
            t = t.float()
        tensors[name] = t.contiguous().clone()  # own storage: no shared or strided views
    return save(tensors, metadata={"format": "pt", "torch": torch.__version__})


def _tree_file(model: Any) -> tuple[ModelFile, dict[str, Any]]:
    """A tree wrapper's estimator in its library's format, and the wrapper's own state."""
    classes = [int(c) for c in model.classes_]
    family = getattr(model, "family", "")
    if family == "xgboost":
        state = {"classes_seen": classes, "rounds": int(model._rounds)}
        if model.estimator is None:  # one class seen: nothing was fitted
            return ModelFile("model", "xgboost-ubj", b""), {**state, "constant": True}
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.ubj")
            model.estimator.save_model(path)  # keeps the scikit-learn wrapper's attributes
            with open(path, "rb") as fh:
                return ModelFile("model", "xgboost-ubj", fh.read()), {**state, "constant": False}
    if family == "random_forest":
        return ModelFile("model", "skops", _skops_dumps(model.estimator)), {"classes_seen": classes}
    raise SavedModelError(f"{type(model).__name__} has no saved-model format.")


def _fitted_state(fitted: Any) -> dict[str, Any]:
    return {"scaler": fitted.scaler, "pca": fitted.pca}


def _skops_dumps(obj: Any) -> bytes:
    """skops bytes, deflated (level 1): a fully grown forest's node arrays shrink about
    8-fold for a fraction of a second."""
    import zipfile

    import skops.io

    return bytes(skops.io.dumps(obj, compression=zipfile.ZIP_DEFLATED, compresslevel=1))


def _skops_loads(data: bytes, what: str) -> Any:
    """A skops file, loaded only if every type it holds is one this project writes."""
    import skops.io

    untrusted = set(skops.io.get_untrusted_types(data=data))
    unknown = sorted(untrusted - _SKOPS_TRUSTED)
    if unknown:
        raise SavedModelError(
            f"The {what} file holds types this project never writes ({', '.join(unknown)}); "
            "it is not loaded. Fix: use files written by the harness (python -m harness.run)."
        )
    return skops.io.loads(data, trusted=sorted(untrusted))


# ----------------------------------------------------------------------------- loading


@dataclass
class SavedModel:
    """A trained model with its preprocessing, ready to classify cubes.

    Attributes:
        manifest: the manifest (see the module docstring).
        preprocessing: the fitted scaler and PCA.
        model: the torch module (eval mode) or the tree wrapper.
        device: the torch device a torch model runs on.
        trial_id: the trial it was saved by, when loaded from a database.
        trial: that trial's record (:meth:`harness.store.ResultStore.trial`), when loaded
            by ``python -m harness.predict``.
    """

    manifest: dict[str, Any]
    preprocessing: Any
    model: Any
    device: Any = None
    trial_id: int | None = None
    trial: dict[str, Any] | None = None

    @property
    def n_bands(self) -> int:
        return int(self.manifest["n_bands"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.manifest["class_names"])

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    def check_cube(self, shape: tuple[int, ...], wavelengths_nm: Any = None) -> None:
        """Refuse a cube this model cannot classify, before any work.

        Raises:
            SavedModelError: not H x W x B, a band count other than the model's, or a
                wavelength range that differs (when both sides know it) by more than
                half a band.
        """
        if len(shape) != 3:
            raise SavedModelError(
                f"The cube has shape {tuple(shape)}; a model classifies an H x W x B cube."
            )
        model = self.manifest["model"]
        if shape[2] != self.n_bands:
            raise SavedModelError(
                f"The cube has {shape[2]} bands, but model '{model}' was trained on "
                f"{self.n_bands} bands ({self.manifest['trained_on']['scene']}). Fix: give a "
                f"cube of the same sensor with {self.n_bands} bands, in the same order (remove "
                "or add the same bad bands as the training scene)."
            )
        radius = int(self.manifest["patch_size"]) // 2
        if (
            self.kind == "torch"
            and self.manifest["pad_mode"] in ("reflect", "symmetric")
            and (radius >= min(shape[0], shape[1]))
        ):
            raise SavedModelError(
                f"The cube is {shape[0]} x {shape[1]} pixels; model '{model}' looks at "
                f"{self.manifest['patch_size']} x {self.manifest['patch_size']} windows with "
                f"{self.manifest['pad_mode']} padding, which needs more than {radius} pixels "
                "on each side. Fix: give a larger cube."
            )
        ours, theirs = self.manifest.get("wavelengths_nm"), _range(wavelengths_nm)
        if ours and theirs:
            step = (ours[1] - ours[0]) / max(self.n_bands - 1, 1)
            if (
                abs(ours[0] - theirs[0]) > step / 2 + 1e-6
                or abs(ours[1] - theirs[1]) > step / 2 + 1e-6
            ):
                raise SavedModelError(
                    f"The cube's bands span {theirs[0]:g}-{theirs[1]:g} nm, but model '{model}' "
                    f"was trained on bands spanning {ours[0]:g}-{ours[1]:g} nm. Fix: give a cube "
                    "of the training scene's sensor, with the same bands."
                )

    def predict(
        self,
        cube: np.ndarray,
        *,
        wavelengths_nm: Any = None,
        chunk: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Classify every pixel of an (H, W, B) cube.

        The cube goes through the trial's fitted preprocessing, then the model, in
        chunks of the trial's size (``manifest["map_chunk"]`` pixels), so memory
        stays bounded by the cube, its preprocessed image and one chunk of windows.

        Args:
            cube: (H, W, B) with the model's B bands, in the training scene's units.
            wavelengths_nm: the cube's band centres, when known (checked against the
                model's).
            chunk: pixels per chunk (default: the trial's).
            progress: called with (pixels done, pixels in all) after every chunk (and
                every batch of a torch model's chunk); :class:`harness.maps.PixelProgress`
                shows it (a bar on a terminal, else a line every few seconds).

        Returns:
            (labels, entropy): (H, W) int16 1-based classes and (H, W) float32
            prediction entropy in nats.

        Raises:
            SavedModelError: a cube of another band count or wavelength range.
        """
        from .metrics import entropy as row_entropy

        cube = np.asarray(cube)
        self.check_cube(cube.shape, wavelengths_nm)
        h, w = cube.shape[:2]
        image = self.preprocessing.transform(cube)
        labels = np.empty(h * w, dtype=np.int16)
        ent = np.empty(h * w, dtype=np.float32)
        total = h * w

        def on_rows(done: int) -> None:
            if progress is not None:
                progress(done, total)

        for idx, proba in self._probabilities(
            image, int(chunk or self.manifest["map_chunk"]), on_rows
        ):
            labels[idx] = proba.argmax(1) + 1
            ent[idx] = row_entropy(proba)
            if progress is not None:
                progress(int(idx[-1]) + 1, total)
        return labels.reshape(h, w), ent.reshape(h, w)

    def _probabilities(
        self, image: np.ndarray, chunk: int, on_rows: Callable[[int], None] | None = None
    ) -> Any:
        """(flat indices, (n, C) probabilities) of the image's pixels, chunk by chunk
        (``on_rows``: called with the pixels done after every batch of a torch model)."""
        if self.kind == "sklearn":
            table = image.reshape(-1, image.shape[2])
            for start in range(0, table.shape[0], chunk):
                stop = min(start + chunk, table.shape[0])
                yield np.arange(start, stop), self.model.predict_proba(table[start:stop])
            return
        import torch

        import datasets

        batch = max(int(self.manifest["eval_batch_size"]), 256)
        for idx, patches in datasets.iter_scene_patches(
            image, int(self.manifest["patch_size"]), chunk_size=chunk,
            pad_mode=self.manifest["pad_mode"],
        ):  # fmt: skip
            x = torch.from_numpy(patches).to(self.device)
            out = []
            with torch.no_grad(), self._autocast():
                for start in range(0, x.shape[0], batch):
                    out.append(torch.softmax(self.model(x[start : start + batch]).float(), dim=1))
                    if on_rows is not None:
                        on_rows(int(idx[0]) + start + out[-1].shape[0])
            yield idx, torch.cat(out).cpu().numpy()

    def _autocast(self) -> Any:
        import torch

        mode = self.manifest.get("precision")
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode or "")
        if dtype is None or (self.device.type != "cuda" and dtype != torch.bfloat16):
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)


def read_manifest(data: bytes) -> dict[str, Any]:
    """A manifest file's content.

    Raises:
        SavedModelError: not a manifest of this project, or one of a newer layout.
    """
    try:
        manifest = json.loads(data.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SavedModelError(f"The manifest is not JSON ({exc}).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != "hsi-harness saved model":
        raise SavedModelError("The manifest is not one of a model saved by the harness.")
    version = manifest.get("manifest_version")
    if not isinstance(version, int) or version > MANIFEST_VERSION:
        raise SavedModelError(
            f"The manifest has layout version {version!r}; this code reads up to "
            f"{MANIFEST_VERSION}. Fix: update the harness (git pull)."
        )
    return manifest


def load_model(files: Mapping[str, bytes], device: str | None = None) -> SavedModel:
    """Rebuild a saved model from its files' bytes.

    Args:
        files: {"model": bytes, "preprocessing": bytes, "manifest": bytes}.
        device: where a torch model runs ("cpu", "cuda", "cuda:1"); default CUDA
            when available, else the CPU.

    Raises:
        SavedModelError: a missing file, a file whose sha256 is not the one the
            manifest records, or a file that does not hold what it should.
    """
    missing = [k for k in FILE_KINDS if k not in files]
    if missing:
        raise SavedModelError(f"A saved model needs the files {', '.join(missing)}; none given.")
    manifest = read_manifest(files["manifest"])
    for kind in ("model", "preprocessing"):
        want = manifest["files"][kind]["sha256"]
        got = hashlib.sha256(files[kind]).hexdigest()
        if got != want:
            raise SavedModelError(
                f"The {kind} file has sha256 {got[:12]}..., but its manifest records "
                f"{want[:12]}...: the file was changed or belongs to another model. Fix: "
                "restore the artifact folder from a copy, or re-run the trial."
            )
    import datasets

    state = _skops_loads(files["preprocessing"], "preprocessing")
    pre = datasets.FittedPreprocessing(
        config=datasets.PreprocessConfig(**manifest["preprocessing"]),
        n_bands=int(manifest["n_bands"]),
        scaler=state.get("scaler"),
        pca=state.get("pca"),
    )
    if pre.n_features != manifest["n_features"]:
        raise SavedModelError(
            f"The preprocessing gives {pre.n_features} features, the manifest says "
            f"{manifest['n_features']}: the files do not belong together."
        )
    if manifest["kind"] == "torch":
        import torch

        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = _load_torch(manifest, files["model"], dev)
        return SavedModel(manifest, pre, model, dev)
    return SavedModel(manifest, pre, _load_tree(manifest, files["model"]))


def _build(manifest: Mapping[str, Any]) -> Any:
    import models

    return models.build_model(
        manifest["model"],
        n_bands=int(manifest["n_features"]),
        n_classes=int(manifest["n_classes"]),
        patch_size=int(manifest["patch_size"]),
        **manifest["hparams"],
    )


def _load_torch(manifest: Mapping[str, Any], data: bytes, device: Any) -> Any:
    from safetensors.torch import load

    try:
        tensors = load(data)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise SavedModelError(f"The model file is not a safetensors file ({exc}).") from exc
    model = _build(manifest)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise SavedModelError(
            f"The weights do not fit model '{manifest['model']}' built from the manifest: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    return model.to(device).eval()


def _load_tree(manifest: Mapping[str, Any], data: bytes) -> Any:
    model = _build(manifest)
    state = manifest["tree_state"]
    model.classes_ = np.asarray(state["classes_seen"], dtype=np.int64)
    if manifest["family"] == "xgboost":
        model._rounds = int(state["rounds"])
        if state.get("constant"):
            model.estimator = None
        else:
            import xgboost

            clf = xgboost.XGBClassifier()
            clf.load_model(bytearray(data))
            model.estimator = clf
    else:
        model.estimator = _skops_loads(data, "model")
    model._complexity = model._count()
    return model
