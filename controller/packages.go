package controller

import "github.com/labstack/echo/v4"

// packageRoutes registers the packages routes (issue 3).
func (s *Server) packageRoutes(_ *echo.Group) {}
