"""ganlab: distil a DCGAN teacher into a smaller student on MNIST."""

__version__ = "0.1.0"
