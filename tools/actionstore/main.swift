print("actionstore CLI: coming with the store")
