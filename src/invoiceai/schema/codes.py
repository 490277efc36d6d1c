"""ISO 4217 currency and ISO 3166-1 country code tables, and the names and aliases we map to them.

Plain data, no behaviour. Kept in one module so a table update is a one-file change.
"""

from __future__ import annotations

__all__ = [
    "AMBIGUOUS_CURRENCY_SYMBOLS",
    "COUNTRY_ALIASES",
    "COUNTRY_CODES",
    "CURRENCY_ALIASES",
    "CURRENCY_MINOR_UNITS",
    "DOCUMENT_TYPE_NAMES",
    "DOLLAR_COUNTRIES",
    "MONTH_NUMBERS",
]

# Active ISO 4217 codes with their minor units (digits after the decimal point). Precious
# metals, fund and test codes (XAU, XDR, XTS, XXX, ...) are left out: they never price an
# invoice. HRK and SLL are kept for invoices issued before their withdrawal.
_CURRENCIES = """
AED2 AFN2 ALL2 AMD2 ANG2 AOA2 ARS2 AUD2 AWG2 AZN2 BAM2 BBD2 BDT2 BGN2 BHD3 BIF0 BMD2 BND2 BOB2
BOV2 BRL2 BSD2 BTN2 BWP2 BYN2 BZD2 CAD2 CDF2 CHE2 CHF2 CHW2 CLF4 CLP0 CNY2 COP2 COU2 CRC2 CUC2
CUP2 CVE2 CZK2 DJF0 DKK2 DOP2 DZD2 EGP2 ERN2 ETB2 EUR2 FJD2 FKP2 GBP2 GEL2 GHS2 GIP2 GMD2 GNF0
GTQ2 GYD2 HKD2 HNL2 HRK2 HTG2 HUF2 IDR2 ILS2 INR2 IQD3 IRR2 ISK0 JMD2 JOD3 JPY0 KES2 KGS2 KHR2
KMF0 KPW2 KRW0 KWD3 KYD2 KZT2 LAK2 LBP2 LKR2 LRD2 LSL2 LYD3 MAD2 MDL2 MGA2 MKD2 MMK2 MNT2 MOP2
MRU2 MUR2 MVR2 MWK2 MXN2 MXV2 MYR2 MZN2 NAD2 NGN2 NIO2 NOK2 NPR2 NZD2 OMR3 PAB2 PEN2 PGK2 PHP2
PKR2 PLN2 PYG0 QAR2 RON2 RSD2 RUB2 RWF0 SAR2 SBD2 SCR2 SDG2 SEK2 SGD2 SHP2 SLE2 SLL2 SOS2 SRD2
SSP2 STN2 SVC2 SYP2 SZL2 THB2 TJS2 TMT2 TND3 TOP2 TRY2 TTD2 TWD2 TZS2 UAH2 UGX0 USD2 USN2 UYI0
UYU2 UYW4 UZS2 VED2 VES2 VND0 VUV0 WST2 XAF0 XCD2 XCG2 XOF0 XPF0 YER2 ZAR2 ZMW2 ZWG2 ZWL2
"""

CURRENCY_MINOR_UNITS: dict[str, int] = {entry[:3]: int(entry[3:]) for entry in _CURRENCIES.split()}
"""ISO 4217 code -> number of minor-unit digits (EUR 2, JPY 0, BHD 3)."""

# Symbols and names that name exactly one currency. Keys are compared case-insensitively
# after whitespace is collapsed.
# fmt: off
CURRENCY_ALIASES: dict[str, str] = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "eu€": "EUR",
    "£": "GBP", "gbp": "GBP", "pound sterling": "GBP", "pounds sterling": "GBP", "sterling": "GBP",
    "us$": "USD", "usd$": "USD", "u.s. dollar": "USD", "u.s. dollars": "USD", "us dollar": "USD",
    "us dollars": "USD", "dollar américain": "USD", "us-dollar": "USD",
    "ca$": "CAD", "c$": "CAD", "can$": "CAD", "canadian dollar": "CAD", "canadian dollars": "CAD",
    "a$": "AUD", "au$": "AUD", "aud$": "AUD", "australian dollar": "AUD", "australian dollars": "AUD",
    "nz$": "NZD", "new zealand dollar": "NZD", "hk$": "HKD", "hong kong dollar": "HKD",
    "s$": "SGD", "sgd$": "SGD", "singapore dollar": "SGD", "r$": "BRL", "real": "BRL", "reais": "BRL",
    "mex$": "MXN", "peso mexicano": "MXN", "nt$": "TWD",
    "₹": "INR", "rs.": "INR", "indian rupee": "INR", "indian rupees": "INR", "₨": "PKR",
    "₩": "KRW", "won": "KRW", "₽": "RUB", "руб": "RUB", "руб.": "RUB", "₺": "TRY", "tl": "TRY",
    "₴": "UAH", "грн": "UAH", "₪": "ILS", "nis": "ILS", "฿": "THB", "baht": "THB", "₫": "VND",
    "₱": "PHP", "₦": "NGN", "₵": "GHS", "₸": "KZT", "₾": "GEL", "₼": "AZN", "֏": "AMD",
    "円": "JPY", "yen": "JPY", "japanese yen": "JPY", "元": "CNY", "rmb": "CNY", "yuan": "CNY",
    "renminbi": "CNY", "zł": "PLN", "zl": "PLN", "złoty": "PLN", "zloty": "PLN",
    "kč": "CZK", "kc": "CZK", "czech koruna": "CZK", "ft": "HUF", "forint": "HUF",
    "lei": "RON", "leu": "RON", "лв": "BGN", "лв.": "BGN", "lev": "BGN", "kn": "HRK",
    "chf": "CHF", "sfr": "CHF", "sfr.": "CHF", "fr.": "CHF", "swiss franc": "CHF", "swiss francs": "CHF",
    "franken": "CHF", "schweizer franken": "CHF", "rm": "MYR", "ringgit": "MYR", "rp": "IDR",
    "rupiah": "IDR", "r": "ZAR", "rand": "ZAR", "sek": "SEK", "swedish krona": "SEK",
    "norwegian krone": "NOK", "danish krone": "DKK", "icelandic króna": "ISK", "aed": "AED",
    "dirham": "AED", "riyal": "SAR", "sar": "SAR", "kd": "KWD", "bd": "BHD", "ksh": "KES",
    "dhs": "AED",
}
# fmt: on

# fmt: off
AMBIGUOUS_CURRENCY_SYMBOLS: dict[str, tuple[str, ...]] = {
    "$": ("USD", "CAD", "AUD", "NZD", "MXN", "SGD", "HKD", "ARS", "CLP", "COP"),
    "dollar": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD"),
    "dollars": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD"),
    "¥": ("JPY", "CNY"),
    "kr": ("SEK", "NOK", "DKK", "ISK"),
    "kr.": ("DKK", "SEK", "NOK", "ISK"),
    "krona": ("SEK", "ISK"),
    "krone": ("NOK", "DKK"),
    "peso": ("MXN", "ARS", "CLP", "COP", "PHP", "UYU", "DOP", "CUP"),
    "pesos": ("MXN", "ARS", "CLP", "COP", "PHP", "UYU", "DOP", "CUP"),
    "franc": ("CHF", "XOF", "XAF", "XPF"),
    "rupee": ("INR", "PKR", "LKR", "NPR", "MUR", "SCR"),
    "rupees": ("INR", "PKR", "LKR", "NPR", "MUR", "SCR"),
    "pound": ("GBP", "EGP", "LBP", "SYP"),
    "pounds": ("GBP", "EGP", "LBP", "SYP"),
    "dinar": ("KWD", "BHD", "JOD", "IQD", "TND", "LYD", "DZD", "RSD", "MKD"),
}
# fmt: on

# fmt: off
DOLLAR_COUNTRIES: dict[str, str] = {
    "US": "USD", "CA": "CAD", "AU": "AUD", "NZ": "NZD", "SG": "SGD", "HK": "HKD", "MX": "MXN",
    "AR": "ARS", "CL": "CLP", "CO": "COP", "EC": "USD", "SV": "USD", "PA": "USD", "PR": "USD",
    "TW": "TWD", "JM": "JMD", "BS": "BSD", "BB": "BBD", "TT": "TTD", "FJ": "FJD", "NA": "NAD",
    "LR": "LRD", "BZ": "BZD", "GY": "GYD", "SR": "SRD", "BN": "BND", "KY": "KYD", "BM": "BMD",
}
# fmt: on
"""Seller country -> the currency a bare "$" means there (used to resolve the ambiguity)."""

_COUNTRIES = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT
BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH
ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT
HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS
LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI
NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG
SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
"""

COUNTRY_CODES: frozenset[str] = frozenset(_COUNTRIES.split())
"""ISO 3166-1 alpha-2 codes (plus XK, Kosovo, the user-assigned code EN 16931 code lists accept)."""

# Names, alpha-3 codes and VAT-prefix spellings for the countries invoices most often name.
# Keys are lower-case. Anything else that is not already an alpha-2 code becomes null + finding.
# fmt: off
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB", "el": "GR", "gbr": "GB", "deu": "DE", "fra": "FR", "ita": "IT", "esp": "ES", "nld": "NL",
    "bel": "BE", "aut": "AT", "che": "CH", "lux": "LU", "prt": "PT", "irl": "IE", "dnk": "DK", "swe": "SE",
    "nor": "NO", "fin": "FI", "pol": "PL", "cze": "CZ", "svk": "SK", "hun": "HU", "rou": "RO", "bgr": "BG",
    "hrv": "HR", "svn": "SI", "est": "EE", "lva": "LV", "ltu": "LT", "grc": "GR", "cyp": "CY", "mlt": "MT",
    "usa": "US", "can": "CA", "mex": "MX", "aus": "AU", "nzl": "NZ", "jpn": "JP", "chn": "CN", "ind": "IN",
    "mys": "MY", "sgp": "SG", "hkg": "HK", "bra": "BR", "zaf": "ZA", "tur": "TR", "isl": "IS", "lie": "LI",
    "germany": "DE", "deutschland": "DE", "allemagne": "DE", "alemania": "DE", "germania": "DE",
    "france": "FR", "frankreich": "FR", "francia": "FR", "italy": "IT", "italien": "IT", "italia": "IT",
    "italie": "IT", "spain": "ES", "spanien": "ES", "españa": "ES", "espagne": "ES", "spagna": "ES",
    "netherlands": "NL", "the netherlands": "NL", "holland": "NL", "niederlande": "NL", "nederland": "NL",
    "pays-bas": "NL", "belgium": "BE", "belgien": "BE", "belgique": "BE", "belgië": "BE",
    "austria": "AT", "österreich": "AT", "oesterreich": "AT", "autriche": "AT",
    "switzerland": "CH", "schweiz": "CH", "suisse": "CH", "svizzera": "CH",
    "luxembourg": "LU", "luxemburg": "LU", "portugal": "PT", "ireland": "IE", "irland": "IE",
    "denmark": "DK", "dänemark": "DK", "danmark": "DK", "sweden": "SE", "schweden": "SE", "sverige": "SE",
    "norway": "NO", "norwegen": "NO", "norge": "NO", "finland": "FI", "finnland": "FI", "suomi": "FI",
    "poland": "PL", "polen": "PL", "polska": "PL", "pologne": "PL", "czech republic": "CZ", "czechia": "CZ",
    "tschechien": "CZ", "slovakia": "SK", "slowakei": "SK", "hungary": "HU", "ungarn": "HU",
    "romania": "RO", "rumänien": "RO", "bulgaria": "BG", "bulgarien": "BG", "croatia": "HR",
    "kroatien": "HR", "slovenia": "SI", "slowenien": "SI", "estonia": "EE", "estland": "EE",
    "latvia": "LV", "lettland": "LV", "lithuania": "LT", "litauen": "LT", "greece": "GR",
    "griechenland": "GR", "cyprus": "CY", "zypern": "CY", "malta": "MT", "iceland": "IS",
    "liechtenstein": "LI", "united kingdom": "GB", "great britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "northern ireland": "GB", "großbritannien": "GB",
    "grossbritannien": "GB", "vereinigtes königreich": "GB", "royaume-uni": "GB",
    "united states": "US", "united states of america": "US", "u.s.a.": "US", "u.s.": "US", "us": "US",
    "vereinigte staaten": "US", "états-unis": "US", "etats-unis": "US", "canada": "CA", "kanada": "CA",
    "mexico": "MX", "méxico": "MX", "australia": "AU", "australien": "AU", "new zealand": "NZ",
    "japan": "JP", "japon": "JP", "china": "CN", "chine": "CN", "india": "IN", "indien": "IN",
    "malaysia": "MY", "singapore": "SG", "singapur": "SG", "hong kong": "HK", "brazil": "BR",
    "brasil": "BR", "brasilien": "BR", "south africa": "ZA", "turkey": "TR", "türkei": "TR",
    "türkiye": "TR", "russia": "RU", "russland": "RU", "ukraine": "UA", "israel": "IL",
    "united arab emirates": "AE", "uae": "AE", "saudi arabia": "SA", "south korea": "KR",
    "korea": "KR", "taiwan": "TW", "thailand": "TH", "vietnam": "VN", "viet nam": "VN",
    "indonesia": "ID", "indonesien": "ID", "philippines": "PH", "monaco": "MC", "andorra": "AD",
}
# fmt: on

# Month names and abbreviations in English, German, French, Spanish, Italian, Dutch and
# Portuguese -> month number, for worded dates ("31 Dez. 2024").
MONTH_NUMBERS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            "january jan januar janv janvier enero ene gennaio gen januari jän jänner janeiro",
            "february feb februar févr fevr février fevrier febrero febbraio februari fevereiro fev",
            "march mar märz maerz mrz mars marzo maart março marco",
            "april apr avril avr abril aprile",
            "may mai mayo maggio mei maio",
            "june jun juni juin junio giugno junho",
            "july jul juli juillet juil julio luglio lug julho",
            "august aug août aout agosto ago augustus",
            "september sep sept septembre septiembre settembre set setembro",
            "october oct oktober octobre octubre ottobre ott okt outubro out",
            "november nov novembre noviembre novembro",
            "december dec dezember déc décembre decembre diciembre dic dicembre dez dezembro",
        ),
        start=1,
    )
    for name in names.split()
}

# Document titles and UNTDID 1001 codes -> one of the five document types.
# fmt: off
DOCUMENT_TYPE_NAMES: dict[str, str] = {
    "invoice": "invoice", "tax invoice": "invoice", "commercial invoice": "invoice", "bill": "invoice",
    "rechnung": "invoice", "facture": "invoice", "factura": "invoice", "fattura": "invoice",
    "factuur": "invoice", "380": "invoice", "383": "invoice", "384": "invoice", "389": "invoice",
    "gutschrift": "invoice",  # German self-billing: an invoice issued by the buyer, not a credit note
    "credit note": "credit_note", "credit_note": "credit_note", "credit memo": "credit_note",
    "creditnote": "credit_note", "avoir": "credit_note", "nota de crédito": "credit_note",
    "nota di credito": "credit_note", "rechnungskorrektur": "credit_note", "stornorechnung": "credit_note",
    "creditnota": "credit_note", "381": "credit_note", "261": "credit_note", "396": "credit_note",
    "receipt": "receipt", "quittung": "receipt", "kassenbon": "receipt", "beleg": "receipt",
    "reçu": "receipt", "ticket": "receipt", "recibo": "receipt", "ricevuta": "receipt",
    "proforma": "proforma", "pro forma": "proforma", "pro-forma": "proforma", "proforma invoice": "proforma",
    "proformarechnung": "proforma", "facture pro forma": "proforma", "325": "proforma",
    "other": "other",
}
# fmt: on
