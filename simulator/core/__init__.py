"""The compiled core: network layout, layers, losses, engines and the kernels rules build on."""
