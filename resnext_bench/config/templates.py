"""Network templates: the stem and the bottleneck blocks per stage of each depth the paper uses."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError


@dataclass(frozen=True)
class Template:
    """A network layout: which stem, how many bottleneck blocks per stage."""

    name: str
    kind: str  # "imagenet" (7x7/2 stem + max pool) or "cifar" (3x3 stem)
    stage_blocks: tuple[int, ...]
    image_size: int

    @property
    def depth(self) -> int:
        return 3 * sum(self.stage_blocks) + 2


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("imagenet-50", "imagenet", (3, 4, 6, 3), 224),
        Template("imagenet-101", "imagenet", (3, 4, 23, 3), 224),
        Template("imagenet-152", "imagenet", (3, 8, 36, 3), 224),
        Template("imagenet-200", "imagenet", (3, 24, 36, 3), 224),
        Template("cifar-29", "cifar", (3, 3, 3), 32),
    )
}

BLOCK_FORMS = ("a", "b", "c")
EXPANSION = 4  # a bottleneck block's output is 4 x its planes


def get_template(name: str) -> Template:
    """The template called `name`, or a UserError listing the known ones."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UserError(f"unknown template {name!r}; known: {', '.join(TEMPLATES)}") from None
