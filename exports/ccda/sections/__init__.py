"""The CCD's body sections: narrative tables plus the coded entries that reference them.

Each ``add_*_section`` writes one section into the structuredBody. A required section with
nothing to say is still written, with ``nullFlavor="NI"`` and a "no information" paragraph.
Every allergy, medication, problem and immunization of the record becomes an entry: none is
skipped.
"""

from .allergies import add_allergies_section
from .common import RecordIds
from .encounters import add_encounters_section, encounters_held
from .immunizations import add_immunizations_section
from .medications import add_medications_section
from .problems import add_problems_section
from .results import add_results_section
from .social_history import add_social_history_section
from .vital_signs import add_vital_signs_section

__all__ = [
    "RecordIds",
    "add_allergies_section",
    "add_encounters_section",
    "add_immunizations_section",
    "add_medications_section",
    "add_problems_section",
    "add_results_section",
    "add_social_history_section",
    "add_vital_signs_section",
    "encounters_held",
]
