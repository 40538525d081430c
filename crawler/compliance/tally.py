"""A count of images in one category, their bytes, and the first few of them: what the checks
keep of a repository's images instead of the images."""

from __future__ import annotations

from dataclasses import dataclass, field

from crawler.records import Image

EXAMPLES = 5


@dataclass
class Tally:
    """How many images fell in a category, their bytes, and the first few of them."""

    count: int = 0
    bytes: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, image: Image) -> None:
        self.count += 1
        self.bytes += image.image_size_in_bytes or 0
        if len(self.examples) < EXAMPLES:
            self.examples.append(image.image_uri)

    def merged(self, other: Tally) -> Tally:
        examples = (self.examples + other.examples)[:EXAMPLES]
        return Tally(self.count + other.count, self.bytes + other.bytes, examples)
