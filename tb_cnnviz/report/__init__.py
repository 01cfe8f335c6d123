"""A static HTML report of a logdir (`tb-cnnviz report`): the tab's pictures and numbers, viewable without a server.

Everything in it comes from the plugin's own routes, answered in-process, so each picture is the one the tab
shows. No torch here: the report is built from event files alone.
"""
