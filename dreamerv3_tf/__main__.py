"""`python -m dreamerv3_tf ...` runs `python -m dreamerv3_tf.main ...`: the name a user
guesses first was "No module named dreamerv3_tf.__main__"."""

import runpy

runpy.run_module('dreamerv3_tf.main', run_name='__main__', alter_sys=True)
