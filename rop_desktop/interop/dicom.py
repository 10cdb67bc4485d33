"""De-identification of DICOM datasets before they leave the study, by the standard's own table.

What is done is DICOM PS3.15 Annex E's *Basic Application Level Confidentiality Profile*: every
attribute its Table E.1-1 lists gets the table's action — D (replace with a dummy), Z (empty),
X (remove), U (replace the UID), and the choices X/Z, X/D, Z/D, X/Z/D, X/Z/U* — and private
attributes are removed. The table is not typed here: it is the one ``dicom-anonymizer``
(KitwareMedical) generates from the standard's own XML, edition :data:`PROFILE_EDITION`
(:func:`basic_profile`), and its per-VR dummies are used. Only what the profile leaves to the
user is chosen here:

* **UIDs** (U, and the instance UIDs inside X/Z/U* sequences) are replaced by salted hashes of
  the original (:func:`new_uid`): the same (salt, UID) always gives the same new UID, so files of
  one series still belong together and two exports of a study agree, while without the salt —
  kept secret in the study — nobody can link them back to the hospital's UIDs.
* **PatientID and PatientName** become the study's pseudonymous code (Z/D allows a dummy).
* **Dates**: by default the profile's own handling (emptied or a dummy where the table says D).
  With ``date_shift_days`` the *Retain Longitudinal Temporal Information with Modified Dates*
  option is applied instead: every date (DA) and the date part of every date-time (DT) in the
  table is moved by that many days, keeping the intervals (post-menstrual age, follow-up) a
  screening programme needs; times are kept. The patient's birth date is emptied either way.
* **Dummies** (D) are ``dicom-anonymizer``'s per VR, except dates and times, which get a value
  validators accept (``19000101``, ``000000``).
* **Sequences**: X/Z/U* sequences keep their items with every attribute in them de-identified
  the same way and instance UIDs replaced; Z empties a sequence; X/Z, X/D and X/Z/D remove it
  (X) unless it is one the exported IODs have as type 2 (:data:`_TYPE2_SEQUENCES`, emptied);
  D gives dummies all through. Sequences the table does not list are kept and cleaned item by
  item, so a name hidden inside one does not escape.

Then ``PatientIdentityRemoved = YES``, ``DeidentificationMethod`` and its code sequence (CID 7050:
:data:`BASIC_PROFILE`, plus :data:`MODIFIED_DATES` when dates were shifted) and
``LongitudinalTemporalInformationModified`` say what was applied. ``BurnedInAnnotation`` is not
touched (the profile keeps it): it says what the source said, and :class:`Report` repeats it so
that an export can warn where pixels may show a name. Reading DICOM pixels and tags for the
import is :mod:`rop_desktop.imaging.decode`'s job; :func:`identifying_values` lists what the
import keeps in the study's identity table.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any

from dicomanonymizer import simpledicomanonymizer as profile_actions
from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID, generate_uid

#: The edition of PS3.15 whose Table E.1-1 is applied (``dicom-anonymizer``'s generated table).
PROFILE_EDITION = "2026c"
_DATABASE = f"dicomfields_{PROFILE_EDITION}"
#: CID 7050 (De-identification Method), coding scheme DCM.
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
#: DeidentificationMethod (LO, at most 64 characters a value) for each code.
_METHOD_TEXT = {
    BASIC_PROFILE[0]: f"PS3.15 {PROFILE_EDITION} Annex E Basic Profile",
    MODIFIED_DATES[0]: "Retain Longitudinal Temporal Info. Modified Dates",
}
#: The table's lists in ``dicom-anonymizer`` and the action each stands for.
_CATEGORIES = {
    "D_TAGS": "D",
    "Z_TAGS": "Z",
    "X_TAGS": "X",
    "U_TAGS": "U",
    "Z_D_TAGS": "Z/D",
    "X_Z_TAGS": "X/Z",
    "X_D_TAGS": "X/D",
    "X_Z_D_TAGS": "X/Z/D",
    "X_Z_U_STAR_TAGS": "X/Z/U*",
}
Tag = tuple[int, ...]  # (group, element) or a repeating group (group, element, group mask, element mask)
#: What a rule is called with: one element's (group, element), also for a match of a repeating group.
ElementTag = tuple[int, int]

_PATIENT_NAME, _PATIENT_ID, _BIRTH_DATE = (0x0010, 0x0010), (0x0010, 0x0020), (0x0010, 0x0030)
_TEMPORAL = ("DA", "DT", "TM")
#: D on a date or time: a dummy the VR accepts (validators refuse year 0001, ``dicom-anonymizer``'s).
_DUMMY_TEMPORAL = {"DA": "19000101", "DT": "19000101000000", "TM": "000000"}
#: Sequences an IOD this app exports has as type 2 (present, may be empty): X/Z empties them
#: there; every other X/Z, X/D or X/Z/D sequence is removed (type 3: absent, never empty).
_TYPE2_SEQUENCES = frozenset({(0x0040, 0x0555)})  # Acquisition Context: ophthalmic photography
#: Type 1C attributes the table replaces (D) whose condition is an attribute it removes (X): present
#: only with it, so they go when it went (else the file would break its IOD's condition).
_ONLY_WITH = {"ClinicalTrialProtocolEthicsCommitteeName": "ClinicalTrialProtocolEthicsCommitteeApprovalNumber"}


def basic_profile() -> dict[Tag, str]:
    """Table E.1-1 as applied: each listed tag → its action (``"D"``, ``"Z"``, ``"X"``, ``"U"``,
    ``"X/Z"``…). Generated from the standard by ``dicom-anonymizer``; tests build their
    fully-identified fixture from it."""
    database = dicom_anonymization_database_selector(_DATABASE)
    return {tag: action for category, action in _CATEGORIES.items() for tag in database[category]}


@dataclass(frozen=True)
class Options:
    """What the profile leaves to the study: its code for the patient, its UID salt, the dates."""

    patient_code: str
    salt: str
    #: None: the basic profile's dates. A number of days: the Modified Dates option, by that shift.
    date_shift_days: int | None = None

    def __post_init__(self) -> None:
        if not self.patient_code.strip():
            raise ValueError("patient_code must not be empty")
        if not self.salt:
            raise ValueError("the UID salt must not be empty")


@dataclass
class Report:
    """What :func:`deidentify` did to one dataset, by attribute keyword (or tag, for unknown ones)."""

    removed: set[str] = field(default_factory=set)
    emptied: set[str] = field(default_factory=set)
    replaced: set[str] = field(default_factory=set)
    uids: set[str] = field(default_factory=set)
    shifted: set[str] = field(default_factory=set)
    private_removed: int = 0
    #: The source's BurnedInAnnotation ("YES", "NO") or None when it did not say.
    burned_in: str | None = None

    def merge(self, other: Report) -> None:
        """Add ``other`` (another file of the same export) to this report."""
        for name in ("removed", "emptied", "replaced", "uids", "shifted"):
            getattr(self, name).update(getattr(other, name))
        self.private_removed += other.private_removed


def method_codes(options: Options) -> list[tuple[str, str]]:
    """The CID 7050 codes naming what :func:`deidentify` applies with ``options``."""
    return [BASIC_PROFILE] + ([MODIFIED_DATES] if options.date_shift_days is not None else [])


def mark_deidentified(ds: Dataset, options: Options) -> None:
    """Say in ``ds`` what was applied: PatientIdentityRemoved, the method and its codes, and whether
    longitudinal temporal information was modified (shifted) or removed (the basic profile)."""
    codes = method_codes(options)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [_METHOD_TEXT[value] for value, _ in codes]
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if options.date_shift_days is not None else "REMOVED"


def deidentify(ds: Dataset, options: Options) -> tuple[Dataset, Report]:
    """A de-identified copy of ``ds`` (``ds`` itself is not changed) and what was done; see the module doc."""
    out = copy.deepcopy(ds)
    report = Report(burned_in=str(out.get("BurnedInAnnotation") or "").strip().upper() or None)
    report.private_removed = _count_private(out)
    _apply(out, options, report)
    out.PatientID = out.PatientName = options.patient_code  # type 2 in every image IOD: present, pseudonymous
    mark_deidentified(out, options)
    return out, report


def new_uid(salt: str, original: str) -> UID:
    """The UID replacing ``original`` in a study with ``salt`` (stable, not reversible without the salt)."""
    return generate_uid(entropy_srcs=[salt, original.strip("\0 ")])


def shift_date(value: str, days: int) -> str | None:
    """A DA value, or the date part of a DT value, moved by ``days``; None when it holds no full date."""
    text = value.strip()
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        moved = date(int(text[:4]), int(text[4:6]), int(text[6:8])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return moved.strftime("%Y%m%d") + text[8:]


def date_shift(salt: str, patient_code: str) -> int:
    """The Modified Dates option's shift for one patient: 1 to 10 years back, from the salt.

    Per patient, not per study: one real date that someone knows (a birth, a referral) then moves
    back only that infant's calendar, not every patient's, while each infant's own intervals — what
    the option is for — are kept."""
    mac = hmac.new(salt.encode("utf-8"), b"date-shift\0" + patient_code.encode("utf-8"), hashlib.sha256)
    return -(365 + int.from_bytes(mac.digest()[:8], "big") % (9 * 365))


# ---------------------------------------------------------------------------- what identifies (import)
_IDENTIFYING: tuple[tuple[str, str], ...] = (
    ("PatientID", "patient_id"),
    ("PatientName", "patient_name"),
    ("PatientBirthDate", "birth_date"),
    ("IssuerOfPatientID", "issuer_of_patient_id"),
    ("OtherPatientIDs", "other_patient_id"),
    ("MedicalRecordLocator", "other_patient_id"),
    ("OtherPatientNames", "other_patient_name"),
    ("PatientBirthName", "other_patient_name"),
    ("PatientMotherBirthName", "other_patient_name"),
    ("PatientAddress", "contact"),
    ("PatientTelephoneNumbers", "contact"),
)


def identifying_values(ds: Dataset) -> list[tuple[str, str]]:
    """(identity kind, value) of the patient's identifiers in ``ds`` (``store.schema.IDENTITY_KINDS``),
    what the import keeps in the identity table; empty values left out."""
    out: list[tuple[str, str]] = []
    for keyword, kind in _IDENTIFYING:
        value = ds.get(keyword)
        values = list(value) if isinstance(value, MultiValue | list) else [value]
        out += [(kind, str(v).strip()) for v in values if v is not None and str(v).strip()]
    for item in ds.get("OtherPatientIDsSequence") or []:
        out += [("other_patient_id", str(item.get("PatientID")).strip())] if item.get("PatientID") else []
    return out


# ---------------------------------------------------------------------------- applying the table
def _apply(ds: Dataset, options: Options, report: Report) -> None:
    """The table on ``ds`` through ``dicom-anonymizer`` (our actions for what the profile leaves to
    us), then the same on every item of the sequences the table does not list."""
    table = basic_profile()
    rules: dict[Tag, Callable[[Dataset, ElementTag], None]] = {
        tag: partial(_act, action=action, options=options, report=report) for tag, action in table.items()
    }
    rules[_PATIENT_ID] = rules[_PATIENT_NAME] = partial(_pseudonym, options=options, report=report)
    rules[_BIRTH_DATE] = partial(_act, action="Z", options=Options(options.patient_code, options.salt), report=report)
    profile_actions.anonymize_dataset(
        ds,
        extra_anonymization_rules=rules,
        delete_private_tags=True,
        base_rules_gen=partial(profile_actions.initialize_actions, _DATABASE),
    )
    for dependent, condition in _ONLY_WITH.items():
        if dependent in ds and condition not in ds:
            del ds[dependent]
            report.replaced.discard(dependent)
            report.removed.add(dependent)
    listed = {t for t in table if len(t) == 2}
    for elem in list(ds):
        if elem.VR == "SQ" and (elem.tag.group, elem.tag.element) not in listed:
            for item in elem.value:
                _apply(item, options, report)


def _name(elem: DataElement) -> str:
    return elem.keyword or keyword_for_tag(elem.tag) or f"({elem.tag.group:04X},{elem.tag.element:04X})"


def _pseudonym(ds: Dataset, tag: ElementTag, *, options: Options, report: Report) -> None:
    """PatientID / PatientName: the study's code (present even when the source left them out)."""
    elem = ds.get(tag)
    if elem is None:
        return
    elem.value = options.patient_code
    report.replaced.add(_name(elem))


def _act(ds: Dataset, tag: ElementTag, *, action: str, options: Options, report: Report) -> None:
    """One table action on one element, by its VR (see the module doc)."""
    elem = ds.get(tag)
    if elem is None:
        return
    name = _name(elem)
    if elem.VR == "SQ":
        _sequence(ds, elem, action, options, report)
    elif (elem.VR == "UI" and action not in ("X", "Z", "X/Z")) or (action == "U" and elem.VR == "UN"):
        _replace_uids(elem, options.salt)
        report.uids.add(name)
    elif elem.VR in _TEMPORAL:
        _temporal(ds, elem, action, options, report)
    elif action == "X":
        del ds[elem.tag]
        report.removed.add(name)
    elif action in ("Z", "X/Z"):
        profile_actions.empty_element(elem)
        report.emptied.add(name)
    else:  # D, Z/D, X/D, X/Z/D, X/Z/U* on a non-UID: the profile's dummy for the VR
        try:
            profile_actions.replace_element(elem)
        except NotImplementedError:  # a VR the library has no dummy for (AT, OW, OF…): removed instead
            del ds[elem.tag]
            report.removed.add(name)
            return
        report.replaced.add(name)


def _replace_uids(elem: DataElement, salt: str) -> None:
    if elem.VR == "UN":
        raw = bytes(elem.value or b"").decode("ascii", "replace")
        uid = new_uid(salt, raw).encode("ascii")
        elem.value = uid + b"\0" * (len(uid) % 2)
    elif isinstance(elem.value, MultiValue | list):
        elem.value = [new_uid(salt, str(v)) for v in elem.value]
    elif elem.value:
        elem.value = new_uid(salt, str(elem.value))


def _temporal(ds: Dataset, elem: DataElement, action: str, options: Options, report: Report) -> None:
    name = _name(elem)
    if options.date_shift_days is not None and elem.VR == "TM":
        return  # whole days move: the time of day stays, as the option allows
    if options.date_shift_days is not None and elem.VR in ("DA", "DT"):
        values = list(elem.value) if isinstance(elem.value, MultiValue | list) else [elem.value]
        moved = [shift_date(str(v), options.date_shift_days) if v else "" for v in values]
        if all(m is not None for m in moved):
            elem.value = moved if len(moved) > 1 else moved[0]
            report.shifted.add(name)
            return
    if action == "X":
        del ds[elem.tag]
        report.removed.add(name)
    elif action in ("Z", "X/Z"):
        elem.value = ""
        report.emptied.add(name)
    else:
        elem.value = _DUMMY_TEMPORAL[elem.VR]
        report.replaced.add(name)


def _sequence(ds: Dataset, elem: DataElement, action: str, options: Options, report: Report) -> None:
    name = _name(elem)
    if action == "X":
        del ds[elem.tag]
        report.removed.add(name)
    elif action in ("U", "X/Z/U*"):
        for item in elem.value:
            _apply(item, options, report)
        report.uids.add(name)
    elif action == "D":
        for item in elem.value:
            _dummies(item, options.salt)
        report.replaced.add(name)
    elif action in ("Z", "Z/D") or (elem.tag.group, elem.tag.element) in _TYPE2_SEQUENCES:
        elem.value = Sequence([])
        report.emptied.add(name)
    else:  # X/Z, X/D, X/Z/D: removed, which a type 3 sequence must be rather than empty
        del ds[elem.tag]
        report.removed.add(name)


def _dummies(item: Dataset, salt: str) -> None:
    """D on a sequence: every value inside replaced by a dummy (UIDs by salted ones)."""
    for elem in list(item):
        if elem.tag.is_private:
            del item[elem.tag]
        elif elem.VR == "SQ":
            for sub in elem.value:
                _dummies(sub, salt)
        elif elem.VR == "UI":
            _replace_uids(elem, salt)
        elif elem.VR in _DUMMY_TEMPORAL:
            elem.value = _DUMMY_TEMPORAL[elem.VR]
        else:
            try:
                profile_actions.replace_element(elem)
            except NotImplementedError:  # no dummy for the VR: removed
                del item[elem.tag]


def _count_private(ds: Dataset) -> int:
    count = 0

    def visit(_: Dataset, elem: Any) -> None:
        nonlocal count
        count += bool(elem.tag.is_private)

    ds.walk(visit)
    return count
