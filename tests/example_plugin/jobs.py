"""Example job: records which clinic it ran for."""


def greet(clinic_id: int, **kwargs) -> None:
    from example_plugin.plugin import SEEN

    SEEN["greeted"].append(clinic_id)
