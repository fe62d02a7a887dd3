"""The product families the service covers (PCR codes), in one place."""

from __future__ import annotations

from enum import StrEnum


class ProductFamily(StrEnum):
    beer = "beer"
    refrigerator = "refrigerator"
    room_air_conditioner = "room-air-conditioner"
    washing_machine = "washing-machine"
    passenger_car_tyre = "passenger-car-tyre"
    truck_bus_tyre = "truck-bus-tyre"


PRODUCT_FAMILIES: tuple[str, ...] = tuple(f.value for f in ProductFamily)
