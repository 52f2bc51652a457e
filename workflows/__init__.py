"""jobflow workflows (atomate2-style Makers) around the screening pipeline.

:class:`~.screening.ScreeningMaker` builds the screen as a jobflow ``Flow``; :mod:`.local` runs
it with ``jobflow.run_locally`` on a file-backed job store (``semcgcnn screen --engine jobflow``).
The same Flow runs on FireWorks (``jobflow.managers.fireworks.flow_to_workflow``) or
jobflow-remote (``submit_flow``); see the README.
"""

import warnings

# jobflow's run_locally enters each job folder with monty's deprecated ``cd``: a FutureWarning per
# job that says nothing to a sem-cgcnn user (jobflow's code, not theirs); only that one is hidden
warnings.filterwarnings("ignore", message="cd is deprecated", category=FutureWarning, module="jobflow")
