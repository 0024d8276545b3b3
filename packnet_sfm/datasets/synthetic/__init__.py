"""A physically simulated BatVision dataset written in the real V1/V2 on-disk formats.

``generate_batvision('v2', 'data/bv2', locations=4, samples_per_location=75, seed=0)``
builds procedural rooms (scene.py), ray-casts depth and RGB from the robot's camera
(render.py, sensor.py), simulates binaural chirp echoes through a rig drawn per location
(acoustics.py) and writes the exact BatVision files and split CSVs (writer.py). realism.py
measures the statistics that compare generated recordings with real ones.
"""
from .generator import (
    GenerationReport,
    SimulationSettings,
    assign_splits,
    generate_batvision,
    simulate_sample,
)

__all__ = ['GenerationReport', 'SimulationSettings', 'assign_splits', 'generate_batvision',
           'simulate_sample']
