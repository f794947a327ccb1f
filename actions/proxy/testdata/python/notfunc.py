main = "not callable"
