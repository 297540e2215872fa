//go:build !amd64

package model

// hostFeatures: no kernels outside amd64, whatever the CPU has.
func hostFeatures() cpuFeatures { return cpuFeatures{} }

// selectGemmKernel: sgemm runs on gonum's Sgemm outside amd64.
func selectGemmKernel(cpuFeatures) *gemmKernel { return nil }
