package loader

// ResolveNeighbours is resolveNeighbours, for the tests of package loader_test
// (which build topologies with tests/topo, itself importing loader).
var ResolveNeighbours = resolveNeighbours
