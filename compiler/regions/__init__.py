"""Cell stores and the engines that enumerate a network's activation cells over a domain."""
