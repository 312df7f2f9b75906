// Package cpuload measures the process's CPU use as a share of the CPUs the
// container may use (cgroup v2 cpu.max, else the machine's CPUs), over a
// sliding window and smoothed: the figure voxd gives the session manager's
// admission (sessionmgr.Manager.SetCPU) and reports. It imports nothing of
// vox.
package cpuload
