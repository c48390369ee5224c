"""What the broker knows about each catalogue cloud as an operator: name, headquarters, certifications.

Public facts as the providers state them; admins can edit them on the partner afterwards (an import never
overwrites an edited partner's HQ or certifications).
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PartnerProfile:
    name: str
    hq_country: str
    certifications: tuple[str, ...] = field(default_factory=tuple)


PARTNER_PROFILES: dict[str, PartnerProfile] = {
    "aws": PartnerProfile("Amazon Web Services", "US", ("ISO27001", "SOC2", "C5", "HDS")),
    "gcp": PartnerProfile("Google Cloud", "US", ("ISO27001", "SOC2", "C5", "HDS")),
    "lambda": PartnerProfile("Lambda", "US", ("SOC2",)),
    "nebius": PartnerProfile("Nebius", "NL", ("ISO27001", "SOC2")),
    "hyperbolic": PartnerProfile("Hyperbolic", "US", ()),
    "hyperstack": PartnerProfile("Hyperstack", "GB", ("ISO27001",)),
    "jarvislabs": PartnerProfile("JarvisLabs", "IN", ()),
    "lium": PartnerProfile("Lium", "US", ()),
    "mithril": PartnerProfile("Mithril", "US", ("SOC2",)),
    "seeweb": PartnerProfile("Seeweb", "IT", ("ISO27001",)),
    "shadeform": PartnerProfile("Shadeform", "US", ("SOC2",)),
    "vast": PartnerProfile("Vast.ai", "US", ()),
    "verda": PartnerProfile("Verda", "FI", ("ISO27001",)),
    "yotta": PartnerProfile("Yotta", "US", ()),
}


def partner_profile(slug: str) -> PartnerProfile:
    return PARTNER_PROFILES.get(slug, PartnerProfile(slug.replace("-", " ").title(), "", ()))
