"""The French starter set a clinic gets when it enables the module (or on `carnet demo`): forms an
orthophoniste or a kiné adapts, each with named clauses accepted or refused one by one. Clause
keys that are core purposes (`carnet_core.plugin_api.PURPOSES`) answer the other modules'
question "does the patient allow X now?"."""

from __future__ import annotations

from typing import Any

STARTER: list[dict[str, Any]] = [
    {
        "key": "information",
        "title": "Notice d'information sur le traitement de vos données",
        "signers": "one",
        "body": """Le cabinet tient un dossier pour chaque patient afin d'assurer sa prise en charge.

**Responsable du traitement :** le professionnel de santé qui vous suit.

**Finalité :** la prise en charge, la coordination des soins et la facturation. Cette base
légale est la fourniture de soins ; elle ne repose pas sur votre consentement.

**Durée de conservation :** vingt ans après la dernière séance (pour un mineur, au moins jusqu'à
ses 28 ans).

**Vos droits :** vous pouvez demander l'accès à votre dossier, sa rectification, la limitation
du traitement ou vous y opposer pour les traitements facultatifs. La réponse vous est donnée
sous huit jours (deux mois pour des données de plus de cinq ans).

Les données sont chiffrées et chaque consultation de votre dossier est tracée.""",
        "clauses": [{"key": "information", "text": "J'ai lu et compris cette notice d'information."}],
    },
    {
        "key": "care",
        "title": "Consentement aux soins",
        "signers": "one",
        "body": """Après le bilan, le professionnel vous a expliqué le projet thérapeutique : ses objectifs,
le nombre et le rythme des séances envisagées, les alternatives possibles.

Vous pouvez poser toutes vos questions et retirer votre consentement à tout moment.""",
        "clauses": [{"key": "care", "text": "J'accepte la prise en charge proposée."}],
    },
    {
        "key": "telesoin",
        "title": "Consentement au télésoin",
        "signers": "both",
        "body": """Certaines séances peuvent avoir lieu à distance, par vidéo, sur une plateforme sécurisée.

- Le télésoin n'est pas proposé pour un bilan initial.
- Pour un mineur, un parent ou un adulte autorisé est présent pendant la séance.
- Vous pouvez demander à tout moment à revenir à des séances au cabinet.""",
        "clauses": [{"key": "telesoin", "text": "J'accepte que des séances aient lieu en télésoin (vidéo)."}],
    },
    {
        "key": "recording",
        "title": "Enregistrement d'une séance",
        "signers": "both",
        "body": """Un enregistrement (audio ou vidéo) d'une séance peut aider à suivre les progrès.

L'enregistrement est conservé dans le dossier, chiffré, et n'est jamais diffusé. Sans votre
accord signé, aucune séance n'est enregistrée.""",
        "clauses": [{"key": "recording", "text": "J'accepte l'enregistrement de séances pour le suivi."}],
    },
    {
        "key": "sms_reminders",
        "title": "Rappels de rendez-vous par SMS",
        "signers": "one",
        "body": """Le cabinet peut vous envoyer un SMS avant chaque rendez-vous. Le message indique
seulement la date, l'heure et le lieu, jamais le motif de la séance.""",
        "clauses": [{"key": "sms_reminders", "text": "J'accepte de recevoir des rappels de rendez-vous par SMS."}],
    },
    {
        "key": "sharing",
        "title": "Partage d'informations avec un autre professionnel",
        "signers": "both",
        "body": """Pour coordonner la prise en charge, le professionnel peut échanger des informations
utiles avec un autre professionnel qui vous suit (médecin, enseignant spécialisé, autre
rééducateur). Seules les informations nécessaires sont partagées.""",
        "clauses": [{"key": "sharing",
                     "text": "J'accepte le partage d'informations avec les professionnels qui me suivent."}],
    },
    {
        "key": "photos",
        "title": "Photos et vidéos pour le suivi",
        "signers": "both",
        "body": """Des photos ou de courtes vidéos peuvent être prises pour suivre l'évolution (posture,
motricité, articulation). Elles restent dans le dossier, chiffrées.""",
        "clauses": [
            {"key": "photos", "text": "J'accepte la prise de photos et de vidéos pour le suivi."},
        ],
    },
]
