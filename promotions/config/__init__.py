"""The catalogue (configuration as code): schema, loading and application resolution."""

from promotions.config.catalog import AppSpec, Catalog, StageFile
from promotions.config.loader import catalog_get, catalog_load, catalog_parse

__all__ = ["AppSpec", "Catalog", "StageFile", "catalog_get", "catalog_load", "catalog_parse"]
