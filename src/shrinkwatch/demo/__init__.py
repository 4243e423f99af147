"""The demo plant: a simulated ERP, WMS and MES telling one stock story in three dialects.

`generate_plant` writes the sources and the answers (injected incidents and
legitimate noise); `mes_server.MesServer` serves the MES part over HTTP.
"""

__all__ = ["generate_plant"]


def __getattr__(name: str):
    # Imported on first use: the MES server command (`python -m
    # shrinkwatch.demo.mes_server`) then starts without the plant generator
    # and SQLAlchemy, in a fraction of the time.
    if name == "generate_plant":
        from shrinkwatch.demo.plant import generate_plant

        return generate_plant
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
