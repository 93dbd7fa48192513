"""The planners' workbench: editing a plan and dynamic adjustment after households change."""
