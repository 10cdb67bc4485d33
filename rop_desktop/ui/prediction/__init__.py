"""The built-in models in the window: the Model (predictions), Train and Models tabs.

Views (``*_panel``) show plain data and emit requests; controllers connect them to the
services and workers. The composition lives in :mod:`rop_desktop.ui.controllers.prediction`.
"""
