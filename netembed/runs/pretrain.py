"""``netembed pretrain`` as a library call: pretrain the encoder, save it, measure it, write its card."""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path

from netembed._io import atomic_write, check_new_folder, check_writable
from netembed.benchmarks.quality import evaluate_pretrained, quality_text
from netembed.errors import NetembedError
from netembed.models.encoder import EncoderConfig
from netembed.models.graph import SpaceGraphs
from netembed.models.pretrain import PretrainConfig, pretrain
from netembed.spaces.nb101 import space

__all__ = ["embed", "embed_cells", "write_pretrained"]


def write_pretrained(
    encoder_config: EncoderConfig,
    config: PretrainConfig,
    out: str | os.PathLike | None = None,
    work: str | os.PathLike | None = None,
    device: str | None = "cpu",
    command: str | None = None,
    force: bool = False,
) -> tuple[dict, str]:
    """Pretrain (resuming from ``work``, None: ``OUT.checkpoint``), save the autoencoder to ``out``
    (None: ``results/encoder-SPACE``), measure it, write its card; returns the card's figures
    (``out`` among them) and the line a person reads.

    ``out`` must be new or empty (a shipped model is not replaced by surprise), unless ``force``.

    Args:
        out: pretrained directory to write, new or empty, or --force (default: results/encoder-SPACE)
        work: checkpoint folder (default: OUT.checkpoint); rerun to resume
        force: replace what --out holds (e.g. pretrained/encoder-nb101)
    """
    from netembed.models import hub
    from netembed.train.spec import resolve_device

    out = check_writable(out or f"results/encoder-{encoder_config.space}")  # before a folder is named after it
    work_dir = Path(work) if work else out.with_name(out.name + ".checkpoint")
    out_dir, device = check_new_folder(out, force), resolve_device(device)
    check_writable(work_dir, "--work")  # both before the hours of pretraining
    start = time.perf_counter()
    model, trained = pretrain(work_dir, encoder_config, config, device=device)
    seconds = time.perf_counter() - start
    nb101 = encoder_config.space == "nb101"
    meta = {
        "command": command
        or f"netembed pretrain --space {encoder_config.space} --out {out_dir} --epochs {config.epochs} --seed {config.seed}",
        "data": f"every architecture of the {encoder_config.space} space, enumerated by netembed; no accuracy or time labels",
        "space_sha256": space.space_checksum() if nb101 else SpaceGraphs(encoder_config.space).digest(),
        "pretrain": asdict(config),
        "train_cells": trained["train_cells"],
        "history": trained["history"],
        "train_seconds_this_run": round(seconds, 1),
    }
    hub.save_pretrained(model.cpu(), encoder_config, out_dir, meta)  # evaluated as users load it: from disk
    quality = evaluate_pretrained(out_dir, out_dir=out_dir, device=device)
    meta["quality"] = {k: v for k, v in quality.items() if k not in ("files", "model")}
    hub.save_pretrained(model.cpu(), encoder_config, out_dir, meta)  # same weights, now with their quality
    _write_card(out_dir, meta, encoder_config.space)
    return {"out": str(out_dir), **meta}, f"wrote {out_dir}"


def _write_card(out_dir: Path, meta: dict, space_name: str = "nb101") -> None:
    q = meta["quality"]
    rec, speed = q["reconstruction"], q["speed"]
    title = {"nb101": "NAS-Bench-101", "nb201": "NAS-Bench-201"}.get(space_name, space_name)
    lines = [
        f"# encoder-{space_name}: label-free pretrained cell encoder",
        "",
        "A variational graph autoencoder (`CellAutoencoder`: `CellEncoder` + decoder) trained on every",
        f"cell of {title} without any accuracy or training-time label, so it may be used inside",
        "query-efficiency measurements.",
        "",
        f"- regenerate: `{meta['command']}`",
        "- what it has seen: the structure of the space's cells (their graph views); no accuracy, no training",
        "  time, no hardware",
        f"- data: {meta['data']} (space sha256 `{meta['space_sha256']}`), {meta['train_cells']:,} training cells,",
        f"  {rec['cells']:,} held out",
        f"- settings: {meta['pretrain']}",
        f'- load: `CellEncoder.from_pretrained("encoder-{space_name}")`',
        "- integrity: `config.json` records the sha256 of `model.safetensors` and loading checks it, which",
        "  detects a truncated, corrupted or swapped file, not a deliberate edit (the hash sits beside the",
        "  weights and is rewritten as easily); loading also refuses a config value of the wrong type or",
        "  range, a tensor whose shape or dtype is not the model's, and NaN or infinite weights. To detect",
        "  an edit, compare the folder with a netembed release you trust (`git diff`).",
        "",
        "## Measured quality (`netembed embed --eval`)",
        "",
        "| figure | pretrained | random init |",
        "|---|---|---|",
        f"| held-out ops accuracy | {rec['ops_accuracy']:.5f} | |",
        f"| held-out exact adjacency accuracy | {rec['adjacency_accuracy']:.5f} | |",
    ]
    if isinstance(q.get("smoothness"), dict):
        sm = q["smoothness"]
        lines.append(
            f"| smoothness ratio (10-NN vs random accuracy gap, lower is better) | "
            f"{sm['pretrained']['ratio']:.3f} | {sm['random_init']['ratio']:.3f} |"
        )
    if "edit_distance" in q:
        ed = q["edit_distance"]
        lines.append(
            f"| Spearman(embedding distance, move distance) | {ed['pretrained']['spearman']:.3f} | "
            f"{ed['random_init']['spearman']:.3f} |"
        )
    lines += [
        f"| embed all {speed['cells']:,} cells | {speed['seconds']:.1f} s | |",
        "",
        "![map](embedding_map.png)",
        "",
    ]
    atomic_write(out_dir / "README.md", lambda tmp: Path(tmp).write_text("\n".join(lines)))


def embed_cells(model, cells_argument: str, device: str = "cpu") -> tuple[list[dict], str]:
    """``netembed embed``: the pretrained encoder ``model``'s embedding of each architecture in
    ``cells_argument`` (a JSON list, inline or in a file), as rows and as text."""
    from netembed.models.encoder import CellEncoder
    from netembed.spaces import inspect

    specs = inspect.parse_list(cells_argument)  # before the model loads
    encoder = CellEncoder.from_pretrained(model, device=device)
    cells = [inspect.from_json(encoder.space, spec) for spec in specs]
    rows = [
        {"hash": c.hash, "embedding": [round(v, 6) for v in e]} for c, e in zip(cells, encoder.embed(cells).tolist())
    ]
    return rows, "\n".join(f"{r['hash']}  " + " ".join(f"{v:+.3f}" for v in r["embedding"]) for r in rows)


def embed(
    model="encoder-nb101",
    cells: str | None = None,
    evaluate: bool = False,
    out="results/embedding",
    device: str | None = "cpu",
    progress: bool = False,
) -> tuple:
    """``netembed embed``: ``embed_cells``, or with ``evaluate`` the model's quality
    (``evaluate_pretrained``, its files in ``out``); the payload and its text.

    Args:
        model: pretrained name or directory (its space's cells)
        cells: JSON list of cells, {"matrix": ..., "ops": ...} (nb201: {"arch": ...}), a file or text
        evaluate: measure reconstruction, smoothness, edit distance, speed
        out: where --eval writes its PNG and JSON
    """
    from netembed.train.spec import resolve_device

    device = resolve_device(device)
    if evaluate:
        quality = evaluate_pretrained(model, out_dir=out, device=device, progress=progress)
        return quality, quality_text(quality)
    if cells is None:
        raise NetembedError("embed needs a JSON file of cells, or --eval")
    return embed_cells(model, cells, device)
