package controller

import "github.com/labstack/echo/v4"

// webRoutes registers the web routes (issue 3).
func (s *Server) webRoutes(_ *echo.Echo) {}
