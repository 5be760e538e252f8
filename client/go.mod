module vitals/client

go 1.24
