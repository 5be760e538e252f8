module github.com/vitalsdev/vitals/client

go 1.24
