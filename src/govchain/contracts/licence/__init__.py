"""The e-licence chain (电子证照链): licence types, issuing, lifecycle, authorised use, verification."""
