"""Runs: an ablation's configurations x seeds, resolved into config.yaml files with stable ids.

The run id hashes the resolved configuration, so relaunching an ablation finds the runs it
already has, and a changed recipe or model makes a new run instead of reusing an old one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path


from ..errors import UserError
from .specs import LIMITS, AblationSpec, BaselineSpec, DataSpec, ModelSpec, RecipeSpec, RuntimeSpec, to_dict
from .load import apply_overrides, build, resolve_recipe
from .validate import require_int, shown

# Data fields that say where the data lives or how it is read, not what is trained on: they do
# not enter the run id (the same run on a cluster and a workstation keeps its id).
WHERE_NOT_WHAT = ("root", "download", "loader", "num_workers")

# 1: the id hashed the ablation's name and the configuration's label with the configuration;
# 2: the id hashes the configuration alone (Run.identity), so every ablation shares its runs.
ID_SCHEME = 2
ID_HEX = 12  # hex digits of the hash kept in a run id (48 bits)


@dataclass(frozen=True)
class Run:
    """One training run, fully resolved."""

    ablation: str
    configuration: str
    model: ModelSpec | BaselineSpec
    data: DataSpec
    recipe: RecipeSpec
    runtime: RuntimeSpec
    seed: int
    complexity: dict
    image_size: int
    study: str | None = None  # the paper comparison it feeds: analysis metadata, not part of the id
    space: str | None = None  # the design space it was sampled from: metadata (the configuration name says it)

    def identity(self) -> dict:
        """Everything that changes the run's numbers, and nothing else: hashed into the run id.

        Not the ablation's name, the configuration's label, the study or the space: the same
        network trained on the same data with the same recipe, seed and precision is one run,
        whichever ablation lists it. Where the data lives and how it is read are left out too.
        """
        data = {k: v for k, v in to_dict(self.data).items() if k not in WHERE_NOT_WHAT}
        return {"id_scheme": ID_SCHEME, "model": model_dict(self.model), "data": data,
                "recipe": to_dict(self.recipe), "seed": self.seed, "precision": self.runtime.precision}

    @property
    def run_id(self) -> str:
        """`SLUG-sSEED-HASH`: the slug (the model's distinguishing fields) is for people; the hash is the identity."""
        blob = json.dumps(self.identity(), sort_keys=True).encode()
        return f"{model_slug(self.model)}-s{self.seed}-{hashlib.sha256(blob).hexdigest()[:ID_HEX]}"

    def to_config(self) -> dict:
        return {
            "run_id": self.run_id,
            "id_scheme": ID_SCHEME,
            "ablation": self.ablation, "configuration": self.configuration,  # the first sweep's labels
            "model": model_dict(self.model),
            "data": to_dict(self.data),
            "recipe": to_dict(self.recipe),
            "seed": self.seed,
            "runtime": to_dict(self.runtime),
            "complexity": dict(self.complexity),
            "image_size": self.image_size,
            "study": self.study,
            "space": self.space,
        }


def model_slug(model: ModelSpec | BaselineSpec) -> str:
    """The model's distinguishing fields as a path-safe name: template, C x d, and every field
    that differs from ModelSpec's default (`cifar-29-8x64d-bp16`); a baseline's library and name."""
    if isinstance(model, BaselineSpec):
        text = model.name.replace(":", "-")
    else:
        default = ModelSpec()
        parts = [model.template, model.label]
        for key, short in SLUG_FIELDS:
            value = getattr(model, key)
            if value != getattr(default, key) and key not in ("num_classes", "in_chans"):
                parts.append(f"{short}{str(value).lower()}")
        text = "-".join(parts)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80]


# ModelSpec fields named in a run id's slug when they differ from the default (classes and channels
# follow from the data set and would only repeat it).
SLUG_FIELDS = (("base_planes", "bp"), ("stem_width", "stem"), ("shortcut", "shortcut-"), ("block_form", "form"),
               ("zero_init_residual", "zir-"), ("num_classes", ""), ("in_chans", ""))


def model_dict(model: ModelSpec | BaselineSpec) -> dict:
    if isinstance(model, BaselineSpec):
        return {"baseline": model.name, "kwargs": dict(model.kwargs),
                "num_classes": model.num_classes, "in_chans": model.in_chans}
    return to_dict(model)


def model_from_dict(d: dict, where: str) -> ModelSpec | BaselineSpec:
    if "baseline" in d:
        return BaselineSpec(d["baseline"], tuple(sorted((d.get("kwargs") or {}).items())),
                            num_classes=d.get("num_classes", 1000), in_chans=d.get("in_chans", 3))
    return build(ModelSpec, d, f"{where}.model")


def resolve_runs(ablation: AblationSpec) -> list[Run]:
    """Every (configuration, seed) run of an ablation."""
    from .grid import expand

    runs = []
    image_size = ablation.data.shape[2]
    data = ablation.data
    if data.root and not Path(data.root).expanduser().is_absolute():
        # Jobs run elsewhere (a code snapshot, a compute node): pin the root as seen at launch.
        data = dataclasses.replace(data, root=str(Path(data.root).expanduser().resolve()))
    for config in expand(ablation):
        for seed in ablation.seeds:
            runs.append(Run(
                ablation=ablation.name, configuration=config.name, model=config.model, data=data,
                recipe=ablation.recipe, runtime=ablation.runtime, seed=seed,
                complexity=config.complexity.as_dict(), image_size=image_size, study=ablation.study,
                space=config.space,
            ))
    return runs


def run_from_config(d: dict, where: str) -> Run:
    """The Run a parsed config.yaml describes (strictly validated; `where` names the file)."""
    if not isinstance(d, dict):
        raise UserError(f"{where}: expected a mapping")
    try:
        for key in ("ablation", "configuration"):
            if not isinstance(d[key], str):
                raise UserError(f"{key}: expected a string, got {shown(d[key])}")
        require_int("seed", d["seed"], 0, limit=LIMITS["seeds"])
        require_int("image_size", d["image_size"], 8, limit=LIMITS["data.image_size"])
        return Run(
            ablation=d["ablation"], configuration=d["configuration"],
            model=model_from_dict(d["model"], where),
            data=build(DataSpec, d["data"], "data"),
            recipe=resolve_recipe(d["recipe"]),
            runtime=build(RuntimeSpec, d.get("runtime") or {}, "runtime"),
            seed=d["seed"], complexity=d.get("complexity") or {}, image_size=d["image_size"],
            study=d.get("study"), space=d.get("space"),
        )
    except KeyError as e:
        raise UserError(f"{where}: missing key {e.args[0]}") from None
    except (TypeError, ValueError, AttributeError) as e:  # a field of the wrong shape (kwargs not a mapping...)
        raise UserError(f"{where}: {e}") from None
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


def with_runtime(run: Run, overrides: list[str]) -> Run:
    """Apply `runtime.KEY=VALUE` overrides (how a run executes never changes its id)."""
    if not overrides:
        return run
    for item in overrides:
        if not item.partition("=")[0].startswith("runtime."):
            raise UserError(f"override {item!r}: only runtime.KEY=VALUE can change an existing run")
    raw = apply_overrides({"runtime": to_dict(run.runtime)}, overrides)
    runtime = build(RuntimeSpec, raw["runtime"], "runtime")
    if runtime.precision != run.runtime.precision:
        raise UserError(f"runtime.precision: {run.runtime.precision} -> {runtime.precision} changes the run's "
                        "results (and its id); launch or train it as a new run instead")
    return dataclasses.replace(run, runtime=runtime)
