"""What the checks keep of how a repository's images are signed and replicated, folded image by
image (counts and a few examples, never the images): the `signed` verdict the crawler gives from
managed signing and signature referrers, FAILED signing statuses, FAILED replications.

A null list means the call was not made (option off, call denied): such an image is "not
known", never "fine"."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from crawler.compliance.tally import Tally
from crawler.records import Image


@dataclass
class Delivery:
    signable: int = 0
    """Images a signature is expected on: not attached to another, not archived, not an
    index's platform image."""
    unsigned: Tally = field(default_factory=Tally)
    """Images signed neither by managed signing nor by a signature referrer."""
    signing_unknown: int = 0
    """Images whose `signed` was not collected or could not be told."""
    signing_failed: Tally = field(default_factory=Tally)
    failed_signing: Counter[str] = field(default_factory=Counter)
    """FAILED signing statuses by "profile ARN: failure code"."""
    signing_unread: int = 0
    """Images without signing statuses (collect.signing off, or the call failed)."""
    replication_failed: Tally = field(default_factory=Tally)
    failed_destinations: Counter[str] = field(default_factory=Counter)
    """FAILED replications by "region/registry id: failure code"."""
    replication_unread: int = 0

    def signing(self, image: Image, *, child: bool) -> None:
        """An image that signing applies to: not an artifact attached to another, not
        archived. An index's platform image (`child`) is signed through its index (a signature
        names the index digest), so only its FAILED statuses count."""
        if image.signing_statuses is None:
            self.signing_unread += 1
        failures = [s for s in image.signing_statuses or () if s.status == "FAILED"]
        if failures:
            self.signing_failed.add(image)
            for status in failures:
                self.failed_signing[f"{status.signing_profile_arn}: {status.failure_code}"] += 1
        if child:
            return
        self.signable += 1
        if image.signed == "no":
            self.unsigned.add(image)
        elif image.signed != "yes":
            self.signing_unknown += 1

    def replication(self, image: Image) -> None:
        """Any image, its signatures and SBOMs too: a destination without them cannot verify
        or audit what it runs."""
        if image.replication_statuses is None:
            self.replication_unread += 1
            return
        failures = [s for s in image.replication_statuses if s.status == "FAILED"]
        if failures:
            self.replication_failed.add(image)
            for status in failures:
                where = f"{status.region}/{status.registry_id}: {status.failure_code}"
                self.failed_destinations[where] += 1
