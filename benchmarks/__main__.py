"""Run every benchmark and print its table: ``python -m benchmarks``."""

from benchmarks.topology_speed import main as topology_speed
from benchmarks.training_speed import main as training_speed

if __name__ == "__main__":
    topology_speed()
    training_speed()
