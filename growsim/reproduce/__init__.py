"""``growsim reproduce``: the paper's experiments on two datasets and several seeds, run as
sweeps (resumable), and the results page written from them."""
