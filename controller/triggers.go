package controller

import "github.com/labstack/echo/v4"

// triggerRoutes registers the triggers routes (issue 3).
func (s *Server) triggerRoutes(_ *echo.Group) {}
