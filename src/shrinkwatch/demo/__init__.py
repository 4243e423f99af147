"""The demo plant: a simulated ERP, WMS and MES telling one stock story in three dialects.

`generate_plant` writes the sources and the answers (injected incidents and
legitimate noise); `mes_server.MesServer` serves the MES part over HTTP.
"""

from shrinkwatch.demo.plant import generate_plant

__all__ = ["generate_plant"]
