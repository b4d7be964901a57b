# ruff: noqa: E501 — texts read better unbroken
"""The templates every entity starts with, for recurring events (pure data; entities add their own)."""

from __future__ import annotations

from typing import Any

DEFAULT_TEMPLATES: dict[str, dict[str, Any]] = {
    "fire": {
        "event": "Brand / Incendie", "category": "Fire", "urgency": "Immediate", "severity": "Severe",
        "certainty": "Observed", "response_types": ["Shelter"],
        "texts": {
            "nl": {"headline": "Zware brand", "sms": "Zware brand in uw buurt. Blijf binnen, sluit ramen en deuren, "
                   "zet ventilatie uit. Volg de instructies van de hulpdiensten.",
                   "instruction": "Blijf binnen, sluit ramen en deuren, zet ventilatie en airco uit."},
            "fr": {"headline": "Incendie important", "sms": "Incendie important près de chez vous. Restez à "
                   "l'intérieur, fermez portes et fenêtres, coupez la ventilation. Suivez les consignes des secours.",
                   "instruction": "Restez à l'intérieur, fermez portes et fenêtres, coupez ventilation et climatisation."},
            "de": {"headline": "Großbrand", "sms": "Großbrand in Ihrer Nähe. Bleiben Sie drinnen, schließen Sie "
                   "Fenster und Türen, schalten Sie die Lüftung aus. Folgen Sie den Anweisungen der Einsatzkräfte.",
                   "instruction": "Bleiben Sie drinnen, schließen Sie Fenster und Türen, schalten Sie Lüftung aus."},
            "en": {"headline": "Major fire", "sms": "Major fire near you. Stay indoors, close windows and doors, "
                   "switch off ventilation. Follow the instructions of the emergency services.",
                   "instruction": "Stay indoors, close windows and doors, switch off ventilation and air conditioning."},
        },
    },
    "flood": {
        "event": "Overstroming / Inondation", "category": "Met", "urgency": "Immediate", "severity": "Severe",
        "certainty": "Likely", "response_types": ["Prepare", "Avoid"],
        "texts": {
            "nl": {"headline": "Overstromingsgevaar", "sms": "Overstromingsgevaar. Breng waardevolle spullen naar "
                   "boven, vermijd ondergelopen straten en kelders. Volg de instructies van de gemeente."},
            "fr": {"headline": "Risque d'inondation", "sms": "Risque d'inondation. Montez vos biens à l'étage, "
                   "évitez les rues inondées et les caves. Suivez les consignes de la commune."},
            "de": {"headline": "Hochwassergefahr", "sms": "Hochwassergefahr. Bringen Sie Wertsachen nach oben, "
                   "meiden Sie überflutete Straßen und Keller. Folgen Sie den Anweisungen der Gemeinde."},
            "en": {"headline": "Flood risk", "sms": "Flood risk. Move valuables upstairs, avoid flooded streets "
                   "and cellars. Follow the instructions of the municipality."},
        },
    },
    "water": {
        "event": "Drinkwater / Eau potable", "category": "Health", "urgency": "Immediate", "severity": "Moderate",
        "certainty": "Observed", "response_types": ["Avoid"],
        "texts": {
            "nl": {"headline": "Kraantjeswater niet drinken", "sms": "Drink het kraantjeswater niet en gebruik het "
                   "niet om te koken tot een nieuw bericht. Kook het minstens 3 minuten als u het toch nodig hebt."},
            "fr": {"headline": "Ne buvez pas l'eau du robinet", "sms": "Ne buvez pas l'eau du robinet et ne "
                   "l'utilisez pas pour cuisiner jusqu'à nouvel ordre. Faites-la bouillir au moins 3 minutes si besoin."},
            "de": {"headline": "Leitungswasser nicht trinken", "sms": "Trinken Sie das Leitungswasser nicht und "
                   "kochen Sie nicht damit bis auf Weiteres. Kochen Sie es notfalls mindestens 3 Minuten ab."},
            "en": {"headline": "Do not drink tap water", "sms": "Do not drink tap water or use it for cooking until "
                   "further notice. If you must, boil it for at least 3 minutes."},
        },
    },
    "evacuation": {
        "event": "Evacuatie / Évacuation", "category": "Safety", "urgency": "Immediate", "severity": "Extreme",
        "certainty": "Observed", "response_types": ["Evacuate"],
        "texts": {
            "nl": {"headline": "Evacuatie", "sms": "Verlaat nu uw woning. Neem medicatie, papieren en gsm mee. "
                   "Volg de route en de instructies van de hulpdiensten."},
            "fr": {"headline": "Évacuation", "sms": "Quittez votre logement maintenant. Emportez médicaments, "
                   "papiers et GSM. Suivez l'itinéraire et les consignes des secours."},
            "de": {"headline": "Evakuierung", "sms": "Verlassen Sie jetzt Ihre Wohnung. Nehmen Sie Medikamente, "
                   "Papiere und Handy mit. Folgen Sie der Route und den Anweisungen der Einsatzkräfte."},
            "en": {"headline": "Evacuation", "sms": "Leave your home now. Take medication, papers and phone. "
                   "Follow the route and the instructions of the emergency services."},
        },
    },
    "all_clear": {
        "event": "Einde alarm / Fin d'alerte", "category": "Safety", "urgency": "Immediate", "severity": "Minor",
        "certainty": "Observed", "response_types": ["AllClear"],
        "texts": {
            "nl": {"headline": "Einde alarm", "sms": "Einde alarm: het gevaar is geweken. U mag de normale "
                   "activiteiten hervatten."},
            "fr": {"headline": "Fin d'alerte", "sms": "Fin d'alerte : le danger est écarté. Vous pouvez reprendre "
                   "vos activités normales."},
            "de": {"headline": "Entwarnung", "sms": "Entwarnung: Die Gefahr ist vorüber. Sie können Ihre normalen "
                   "Tätigkeiten wieder aufnehmen."},
            "en": {"headline": "All clear", "sms": "All clear: the danger has passed. You may resume normal "
                   "activities."},
        },
    },
}  # fmt: skip
