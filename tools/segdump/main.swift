print("segdump")
