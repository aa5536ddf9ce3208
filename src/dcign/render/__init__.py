"""The graphics engine: meshes (faces, chairs) and the headless OpenGL renderer."""
