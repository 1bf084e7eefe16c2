"""The Gradio page, one module per tab (layout, handlers and events together); app.py assembles them.

    common.py   the page's shared state, the handler guard, grids with captions, visitor ids
    compare.py  Compare: teacher and student from one seed, a digit on request, Hub models
    distill.py  Distill from scratch: the run's form, controls, live curves, samples and files
    push.py     the Distill tab's push-to-Hub panel
    walk.py     Latent walk
    about.py    About and the ONNX export
"""
