// owt playground
