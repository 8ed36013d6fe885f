package engine

// For the benchmarks of package engine_test that measure wazero alone.
var (
	CoreFeatures = coreFeatures
	Instrument   = instrument
)
