module github.com/mdev-operator/mdev-operator/helpers/nvml

go 1.26

require github.com/NVIDIA/go-nvml v0.13.3-0
