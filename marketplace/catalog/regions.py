"""Where every partner region in the catalogue data is: country, jurisdiction and coordinates.

Sources: the providers' public region lists (city of the data centre). Vast encodes "Place, CC, continent"
and lium a bare country code; both are located at the country's reference point below.
"""

import re
from dataclasses import dataclass

EU_MEMBERS = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())

# ISO 3166-1 alpha-2 → (name, reference latitude, longitude) for every country the data mentions.
COUNTRIES: dict[str, tuple[str, float, float]] = {
    "US": ("United States", 39.8, -98.6), "CA": ("Canada", 45.4, -75.7), "GB": ("United Kingdom", 51.5, -0.1),
    "DE": ("Germany", 50.1, 8.7), "FR": ("France", 48.9, 2.4), "NL": ("Netherlands", 52.4, 4.9),
    "IE": ("Ireland", 53.3, -6.3), "SE": ("Sweden", 59.3, 18.1), "FI": ("Finland", 60.2, 24.9),
    "NO": ("Norway", 59.9, 10.8), "IT": ("Italy", 45.5, 9.2), "ES": ("Spain", 40.4, -3.7),
    "PL": ("Poland", 52.2, 21.0), "CH": ("Switzerland", 47.4, 8.5), "BE": ("Belgium", 50.8, 4.4),
    "PT": ("Portugal", 38.7, -9.1), "GR": ("Greece", 38.0, 23.7), "RO": ("Romania", 44.4, 26.1),
    "BG": ("Bulgaria", 42.7, 23.3), "HR": ("Croatia", 45.8, 16.0), "HU": ("Hungary", 47.5, 19.0),
    "SI": ("Slovenia", 46.1, 14.5), "IS": ("Iceland", 64.1, -21.9), "UA": ("Ukraine", 50.5, 30.5),
    "RU": ("Russia", 55.8, 37.6), "JP": ("Japan", 35.7, 139.7), "KR": ("South Korea", 37.6, 127.0),
    "IN": ("India", 19.1, 72.9), "SG": ("Singapore", 1.35, 103.8), "AU": ("Australia", -33.9, 151.2),
    "ID": ("Indonesia", -6.2, 106.8), "HK": ("Hong Kong", 22.3, 114.2), "TW": ("Taiwan", 25.0, 121.6),
    "CN": ("China", 39.9, 116.4), "TH": ("Thailand", 13.8, 100.5), "VN": ("Vietnam", 21.0, 105.8),
    "AE": ("United Arab Emirates", 25.2, 55.3), "SA": ("Saudi Arabia", 26.4, 50.1), "IL": ("Israel", 32.1, 34.8),
}

JURISDICTIONS = frozenset({"EU", "UK"} | {code for code in COUNTRIES if code not in EU_MEMBERS and code != "GB"})


def jurisdiction_of(country: str) -> str:
    if country in EU_MEMBERS:
        return "EU"
    if country == "GB":
        return "UK"
    return country


@dataclass(frozen=True)
class RegionInfo:
    code: str
    display_name: str
    country: str  # '' = unspecified location
    latitude: float | None
    longitude: float | None

    @property
    def jurisdiction(self) -> str:
        return jurisdiction_of(self.country) if self.country else ""


UNSPECIFIED_CODES = frozenset({"", "default"})

# cloud → region code → (display name, country, lat, lon)
_KNOWN: dict[str, dict[str, tuple[str, str, float, float]]] = {
    "aws": {
        "us-east-1": ("N. Virginia", "US", 38.9, -77.4), "us-east-2": ("Ohio", "US", 40.0, -83.0),
        "us-west-1": ("N. California", "US", 37.4, -121.9), "us-west-2": ("Oregon", "US", 45.8, -119.7),
        "ca-central-1": ("Montreal", "CA", 45.5, -73.6), "eu-central-1": ("Frankfurt", "DE", 50.1, 8.7),
        "eu-north-1": ("Stockholm", "SE", 59.3, 18.1), "eu-south-2": ("Spain", "ES", 41.6, -0.9),
        "eu-west-1": ("Ireland", "IE", 53.3, -6.3), "eu-west-2": ("London", "GB", 51.5, -0.1),
        "eu-west-3": ("Paris", "FR", 48.9, 2.4), "ap-northeast-1": ("Tokyo", "JP", 35.7, 139.7),
        "ap-northeast-2": ("Seoul", "KR", 37.6, 127.0), "ap-south-1": ("Mumbai", "IN", 19.1, 72.9),
        "ap-southeast-1": ("Singapore", "SG", 1.35, 103.8), "ap-southeast-2": ("Sydney", "AU", -33.9, 151.2),
        "ap-southeast-3": ("Jakarta", "ID", -6.2, 106.8), "me-central-1": ("UAE", "AE", 25.2, 55.3),
    },
    "gcp": {
        "asia-east1": ("Taiwan", "TW", 24.1, 120.7), "asia-northeast1": ("Tokyo", "JP", 35.7, 139.7),
        "asia-northeast3": ("Seoul", "KR", 37.6, 127.0), "asia-south1": ("Mumbai", "IN", 19.1, 72.9),
        "asia-south2": ("Delhi", "IN", 28.6, 77.2), "asia-southeast1": ("Singapore", "SG", 1.35, 103.8),
        "australia-southeast1": ("Sydney", "AU", -33.9, 151.2), "europe-north1": ("Hamina", "FI", 60.6, 27.2),
        "europe-west1": ("St. Ghislain", "BE", 50.5, 3.8), "europe-west2": ("London", "GB", 51.5, -0.1),
        "europe-west3": ("Frankfurt", "DE", 50.1, 8.7), "europe-west4": ("Eemshaven", "NL", 53.4, 6.8),
        "europe-west6": ("Zurich", "CH", 47.4, 8.5), "europe-west8": ("Milan", "IT", 45.5, 9.2),
        "europe-west9": ("Paris", "FR", 48.9, 2.4), "me-central2": ("Dammam", "SA", 26.4, 50.1),
        "me-west1": ("Tel Aviv", "IL", 32.1, 34.8), "northamerica-northeast1": ("Montreal", "CA", 45.5, -73.6),
        "northamerica-northeast2": ("Toronto", "CA", 43.7, -79.4), "us-central1": ("Iowa", "US", 41.3, -95.9),
        "us-east1": ("South Carolina", "US", 33.2, -80.0), "us-east4": ("N. Virginia", "US", 39.0, -77.5),
        "us-east5": ("Columbus", "US", 40.0, -83.0), "us-south1": ("Dallas", "US", 32.8, -96.8),
        "us-west1": ("Oregon", "US", 45.6, -121.2), "us-west2": ("Los Angeles", "US", 34.1, -118.2),
        "us-west3": ("Salt Lake City", "US", 40.8, -111.9), "us-west4": ("Las Vegas", "US", 36.2, -115.1),
    },
    "lambda": {
        "asia-northeast-1": ("Tokyo", "JP", 35.7, 139.7), "asia-northeast-2": ("Seoul", "KR", 37.6, 127.0),
        "asia-south-1": ("Mumbai", "IN", 19.1, 72.9), "australia-east-1": ("Sydney", "AU", -33.9, 151.2),
        "europe-central-1": ("Frankfurt", "DE", 50.1, 8.7), "europe-south-1": ("Milan", "IT", 45.5, 9.2),
        "me-west-1": ("Tel Aviv", "IL", 32.1, 34.8), "us-east-1": ("Virginia", "US", 38.9, -77.4),
        "us-east-2": ("Washington DC", "US", 38.9, -77.0), "us-east-3": ("New York", "US", 40.7, -74.0),
        "us-midwest-1": ("Illinois", "US", 41.9, -87.6), "us-south-1": ("Texas", "US", 32.8, -96.8),
        "us-south-2": ("Texas (Austin)", "US", 30.3, -97.7), "us-south-3": ("Texas (Houston)", "US", 29.8, -95.4),
        "us-west-1": ("California", "US", 37.4, -121.9), "us-west-2": ("Arizona", "US", 33.4, -112.1),
        "us-west-3": ("Utah", "US", 40.8, -111.9),
    },
    "hyperstack": {
        "CANADA-1": ("Canada", "CA", 45.5, -73.6), "NORWAY-1": ("Norway", "NO", 59.9, 10.8),
        "US-1": ("United States", "US", 39.0, -77.5),
    },
    "jarvislabs": {"IN1": ("India 1", "IN", 12.97, 77.6), "IN2": ("India 2", "IN", 12.97, 77.6)},
    "mithril": {
        "us-central2-a": ("US Central 2a", "US", 41.3, -95.9), "us-central2-b": ("US Central 2b", "US", 41.3, -95.9),
    },
    "nebius": {
        "eu-north1": ("Finland", "FI", 60.6, 27.2), "eu-west1": ("Paris", "FR", 48.9, 2.4),
        "us-central1": ("Kansas City", "US", 39.1, -94.6),
    },
    "seeweb": {
        "it-fr2": ("Frosinone", "IT", 41.6, 13.3), "it-mi2": ("Milan", "IT", 45.5, 9.2),
        "ch-lug1": ("Lugano", "CH", 46.0, 8.95), "bg-sof1": ("Sofia", "BG", 42.7, 23.3),
    },
    "verda": {
        "FIN-01": ("Helsinki 1", "FI", 60.2, 24.9), "FIN-02": ("Helsinki 2", "FI", 60.2, 24.9),
        "FIN-03": ("Helsinki 3", "FI", 60.2, 24.9),
    },
    "yotta": {"us-central-2": ("US Central", "US", 41.3, -95.9), "us-east-2": ("US East", "US", 39.0, -77.5)},
}

# shadeform: "<city>-<country>-<n>"
_SHADEFORM_CITIES: dict[str, tuple[str, float, float]] = {
    "austin": ("US", 30.3, -97.7), "bangalore": ("IN", 12.97, 77.6), "beltsville": ("US", 39.0, -76.9),
    "calgary": ("CA", 51.0, -114.1), "casper": ("US", 42.9, -106.3), "chicago": ("US", 41.9, -87.6),
    "culpeper": ("US", 38.5, -78.0), "dallas": ("US", 32.8, -96.8), "desmoines": ("US", 41.6, -93.6),
    "dulles": ("US", 38.95, -77.45), "houston": ("US", 29.8, -95.4), "kansascity": ("US", 39.1, -94.6),
    "montreal": ("CA", 45.5, -73.6), "newyork": ("US", 40.7, -74.0), "paris": ("FR", 48.9, 2.4),
    "phoenix": ("US", 33.4, -112.1), "saltlakecity": ("US", 40.8, -111.9), "sanjose": ("US", 37.3, -121.9),
    "tokyo": ("JP", 35.7, 139.7), "warsaw": ("PL", 52.2, 21.0), "wichita": ("US", 37.7, -97.3),
    "helsinki": ("FI", 60.2, 24.9), "london": ("GB", 51.5, -0.1), "frankfurt": ("DE", 50.1, 8.7),
}
_SHADEFORM_RE = re.compile(r"^(?P<city>[a-z]+)-(?P<country>[a-z]+)-\d+$")
_VAST_RE = re.compile(r"^(?P<place>[^,]*),\s*(?P<cc>[A-Z]{2}),\s*(?P<continent>[A-Z]{2})$")


class UnmappedRegion(ValueError):
    pass


def _country_point(country: str, display: str, code: str) -> RegionInfo:
    if country not in COUNTRIES:
        raise UnmappedRegion(f"unknown country {country!r} in region {code!r}")
    name, lat, lon = COUNTRIES[country]
    return RegionInfo(code, display or name, country, lat, lon)


def locate_region(cloud: str, code: str) -> RegionInfo:
    """Return where a cloud's region is; raise UnmappedRegion for a region nobody has mapped."""
    code = code.strip()
    if code in UNSPECIFIED_CODES:
        return RegionInfo(code, "unspecified location", "", None, None)
    known = _KNOWN.get(cloud, {}).get(code)
    if known:
        display, country, lat, lon = known
        return RegionInfo(code, display, country, lat, lon)
    if cloud == "vast" and (match := _VAST_RE.match(code)):
        return _country_point(match["cc"], match["place"].strip(), code)
    if cloud == "lium" and re.fullmatch(r"[A-Z]{2}", code):
        return _country_point(code, "", code)
    if cloud == "shadeform" and (match := _SHADEFORM_RE.match(code)):
        city = _SHADEFORM_CITIES.get(match["city"])
        if city:
            country, lat, lon = city
            return RegionInfo(code, f"{match['city'].title()}", country, lat, lon)
    raise UnmappedRegion(f"region {code!r} of {cloud} is not mapped to a country")
