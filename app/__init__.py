"""PCF Service: product carbon footprints for beer, household appliances and tyres."""

__version__ = "0.1.0"
